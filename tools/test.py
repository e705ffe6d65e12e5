"""Evaluate a checkpoint with the config's test loop (MMSeg-shaped CLI)."""
import argparse

from mmcpal.stack import require_stack

require_stack(exit=True)  # one message if the OpenMMLab stack is unusable

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmcpal.apis import prepare_run_config  # noqa: E402
from mmcpal.utils import exit_after_distributed  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='folder for logs and results')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = prepare_run_config(
        args.config,
        work_dir=args.work_dir,
        cfg_options=args.cfg_options,
        launcher=args.launcher)
    cfg.load_from = args.checkpoint
    runner = Runner.from_cfg(cfg)
    runner.test()
    exit_after_distributed()


if __name__ == '__main__':
    main()
