"""evaluate_masks and label PNG reading against hand-computed values."""
import numpy as np
import pytest
from PIL import Image

from mmcpal.evaluation import evaluate_masks, read_id_list, read_label_png

GT = np.array([[0, 0, 1], [0, 1, 1], [2, 2, 255]])
PRED = np.array([[255, 1, 1], [0, 1, 0], [2, 0, 1]])
# Valid pixels (gt, pred): (0,255) (0,1) (1,1) (0,0) (1,1) (1,0) (2,2) (2,0)


@pytest.fixture
def mask_set(tmp_path, write_png):
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'pred').mkdir()
    write_png(tmp_path / 'gt' / 'm1.png', GT)
    write_png(tmp_path / 'pred' / 'm1.png', PRED)
    # m2: perfect 2 x 3 prediction of class 1 / background.
    gt2 = np.array([[1, 1, 1], [0, 0, 0]])
    write_png(tmp_path / 'gt' / 'm2.png', gt2)
    write_png(tmp_path / 'pred' / 'm2.png', gt2)
    # m3: GT only.
    write_png(tmp_path / 'gt' / 'm3.png', np.zeros((2, 2)))
    return str(tmp_path / 'pred'), str(tmp_path / 'gt')


def test_palette_png_gives_indices(tmp_path, write_png):
    write_png(tmp_path / 'x.png', GT)
    got = read_label_png(str(tmp_path / 'x.png'))
    np.testing.assert_array_equal(got, GT)
    # The VOC colour of class 1 is (128, 0, 0): indices, not colours.
    with Image.open(tmp_path / 'x.png') as img:
        assert img.mode == 'P'
        assert img.convert('RGB').getpixel((2, 0)) == (128, 0, 0)


def test_wrong_mode_by_hand(mask_set):
    pred_dir, gt_dir = mask_set
    res = evaluate_masks(pred_dir, gt_dir, ['m1', 'm2'], 2, split='list.txt')
    # m1 + m2, unsure = miss of GT 0:
    # T = [3 + 3, 3 + 3, 2], P = [3 + 3, 3 + 3, 1], TP = [1 + 3, 2 + 3, 1]
    iou = [4 / (6 + 6 - 4), 5 / (6 + 6 - 5), 1 / (2 + 1 - 1)]
    assert res.best['miou'] == pytest.approx(100 * sum(iou) / 3, abs=1e-3)
    assert res.best['pixel_acc'] == pytest.approx(100 * 10 / 14, abs=1e-3)
    assert res.protocol.coverage == pytest.approx(100 * 13 / 14, abs=1e-3)
    assert res.per_class['background']['recall'] == pytest.approx(100 * 4 / 6,
                                                                  abs=1e-3)
    assert res.curve == []
    assert res.best['threshold'] is None
    text = res.to_markdown()
    assert 'prediction 255: counted wrong' in text
    assert 'background rule: none' in text


def test_exclude_mode_by_hand(mask_set):
    pred_dir, gt_dir = mask_set
    res = evaluate_masks(pred_dir,
                         gt_dir, ['m1', 'm2'],
                         2,
                         pred_ignore='exclude')
    # The unsure pixel is dropped: T0 = 5, P0 = 6, TP0 = 4.
    iou = [4 / (5 + 6 - 4), 5 / 7, 1 / 2]
    assert res.best['miou'] == pytest.approx(100 * sum(iou) / 3, abs=1e-3)
    assert res.best['pixel_acc'] == pytest.approx(100 * 10 / 13, abs=1e-3)
    assert res.protocol.coverage == pytest.approx(100 * 13 / 14, abs=1e-3)
    assert res.protocol.pred_ignore == 'exclude'
    assert 'excluded from scoring' in res.to_markdown()


def test_missing_masks(mask_set):
    pred_dir, gt_dir = mask_set
    res = evaluate_masks(pred_dir, gt_dir, ['m2', 'm3', 'm4'], 2)
    assert res.protocol.num_images == 1
    assert res.protocol.skipped == {
        'no predicted mask': ['m3'],
        'no ground-truth PNG': ['m4']
    }
    assert res.best['miou'] == pytest.approx(100.0)
    res = evaluate_masks(pred_dir,
                         gt_dir, ['m2', 'm3'],
                         2,
                         on_missing='background')
    assert res.protocol.num_images == 2
    assert res.protocol.missing_as_background == ['m3']
    with pytest.raises(FileNotFoundError, match='m3.png'):
        evaluate_masks(pred_dir, gt_dir, ['m3'], 2, on_missing='error')


def test_bad_masks(tmp_path, mask_set):
    pred_dir, gt_dir = mask_set
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(f'{pred_dir}/m1.png')
    with pytest.raises(ValueError, match="m1.png' has mode 'RGB'"):
        evaluate_masks(pred_dir, gt_dir, ['m1'], 2)
    Image.fromarray(np.full((3, 3), 9, np.uint8)).save(f'{pred_dir}/m1.png')
    with pytest.raises(ValueError, match=r'values \[9\] are outside 0..2'):
        evaluate_masks(pred_dir, gt_dir, ['m1'], 2)
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='cannot be read'):
        read_label_png(str(tmp_path / 'bad.png'))
    with pytest.raises(FileNotFoundError, match='prediction folder'):
        evaluate_masks(str(tmp_path / 'no'), gt_dir, ['m1'], 2)


def test_read_id_list(tmp_path):
    path = tmp_path / 'ids.txt'
    path.write_text('2007_000032\n\n2007_000039 extra\n')
    assert read_id_list(str(path)) == ['2007_000032', '2007_000039']
    path.write_text('\n')
    with pytest.raises(ValueError, match='empty'):
        read_id_list(str(path))
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        read_id_list(str(tmp_path / 'nope.txt'))
