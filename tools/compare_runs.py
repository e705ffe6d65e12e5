"""Print seed / mask mIoU of several gen_pseudo_masks output folders."""
import argparse

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmcpal.evaluation.compare import compare_runs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('run_dirs', nargs='+', help='--out-dir folders')
    parser.add_argument('--names', nargs='+', help='row names')
    parser.add_argument('--out', help='also write the markdown here')
    args = parser.parse_args()
    table = compare_runs(args.run_dirs, args.names)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
