"""Tests of the label readers (pure functions on small files)."""
import os.path as osp

import numpy as np
import pytest

from mmcpal.datasets.label_sources import (labels_from_mask, labels_from_xml,
                                           names_to_multi_hot, read_id_list,
                                           read_label_file, read_mask)

CLASSES = ('cat', 'dog', 'person')


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def test_read_id_list_ignores_blank_lines(tmp_path):
    path = _write(tmp_path / 'ids.txt', '\n a \n\nb\n\t\nc')
    assert read_id_list(path) == ['a', 'b', 'c']


def test_read_id_list_errors(tmp_path):
    dup = _write(tmp_path / 'dup.txt', 'a\nb\n\na\n')
    with pytest.raises(ValueError,
                       match=r"dup\.txt line 4: duplicate image id 'a' "
                       r'\(first listed on line 1\)'):
        read_id_list(dup)
    two = _write(tmp_path / 'two.txt', 'a 1\n')
    with pytest.raises(ValueError, match=r'two\.txt line 1: expected one'):
        read_id_list(two)
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        read_id_list(str(tmp_path / 'nope.txt'))


def test_names_to_multi_hot():
    label = names_to_multi_hot(['person', 'cat', 'person'], CLASSES)
    np.testing.assert_array_equal(label, [1, 0, 1])
    assert label.dtype == np.float32


def test_read_label_file_values(tmp_path):
    text = ('id\tsplit\tclasses\tclass_ids\n'
            'x\ttrain\tdog person\t2 3\n'
            '\n'
            'y\ttrain\t\t\n'
            'z\ttrain\tcat\t1\n')
    labels = read_label_file(_write(tmp_path / 'l.tsv', text), CLASSES)
    assert sorted(labels) == ['x', 'y', 'z']
    np.testing.assert_array_equal(labels['x'], [0, 1, 1])
    np.testing.assert_array_equal(labels['y'], [0, 0, 0])
    np.testing.assert_array_equal(labels['z'], [1, 0, 0])


def test_read_label_file_without_class_ids_column(tmp_path):
    path = _write(tmp_path / 'l.tsv', 'classes\tid\ncat dog\tq\n')
    np.testing.assert_array_equal(read_label_file(path, CLASSES)['q'],
                                  [1, 1, 0])


@pytest.mark.parametrize(
    'text, pattern',
    [
        ('id\tclasses\nx\tdog\nw\tcow dog\n',
         r"l\.tsv line 3: unknown class name 'cow' for image 'w'; valid "
         r"names are \['cat', 'dog', 'person'\]"),
        ('id\tclasses\tclass_ids\nx\tdog\t3\n',
         r'l\.tsv line 2: class_ids \[3\] disagree with the class names, '
         r'which give mask values \[2\]'),
        ('id\tclasses\tclass_ids\nx\tdog\ttwo\n',
         r'l\.tsv line 2: class_ids .* are not space-separated integers'),
        ('id\tclasses\nx\tdog\nx\tcat\n',
         r"l\.tsv line 3: duplicate image id 'x' \(first on line 2\)"),
        ('id\tclasses\nx\tdog\textra\n',
         r'l\.tsv line 2: expected 2 tab-separated fields'),
        ('name\tlabels\nx\tdog\n', r'l\.tsv line 1: header lacks column'),
        ('\n\n', r'l\.tsv: empty label file'),
    ])
def test_read_label_file_errors(tmp_path, text, pattern):
    with pytest.raises(ValueError, match=pattern):
        read_label_file(_write(tmp_path / 'l.tsv', text), CLASSES)


def test_labels_from_mask(tmp_path, voc_helpers):
    mask = np.zeros((6, 7), np.uint8)
    mask[1, 1] = 3
    mask[2, 2] = 1
    mask[0, :] = 255
    path = str(tmp_path / 'm.png')
    voc_helpers.write_mask(path, mask)
    np.testing.assert_array_equal(read_mask(path), mask)
    np.testing.assert_array_equal(labels_from_mask(path, 3), [1, 0, 1])
    # Background and ignore only: no foreground label.
    voc_helpers.write_mask(path, np.where(mask == 255, 255, 0))
    np.testing.assert_array_equal(labels_from_mask(path, 3), [0, 0, 0])


def test_labels_from_mask_errors(tmp_path, voc_helpers):
    path = str(tmp_path / 'm.png')
    voc_helpers.write_mask(path, np.full((4, 4), 4, np.uint8))
    with pytest.raises(ValueError,
                       match=r'm\.png holds values \[4\] outside 0\.\.3'):
        labels_from_mask(path, 3)
    corrupt = _write(tmp_path / 'bad.png', 'not a png')
    with pytest.raises(ValueError, match=r'cannot read mask .*bad\.png'):
        labels_from_mask(corrupt, 3)
    import cv2
    rgb = str(tmp_path / 'rgb.png')
    cv2.imwrite(rgb, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"rgb\.png has image mode 'RGB'"):
        labels_from_mask(rgb, 3)
    with pytest.raises(FileNotFoundError, match=r'gone\.png'):
        labels_from_mask(str(tmp_path / 'gone.png'), 3)


def test_labels_from_xml_counts_difficult_and_skips_parts(tmp_path):
    xml = ('<annotation><object><name>person</name><difficult>1</difficult>'
           '<part><name>head</name></part></object>'
           '<object><name> cat </name><difficult>0</difficult></object>'
           '</annotation>')
    path = _write(tmp_path / 'a.xml', xml)
    np.testing.assert_array_equal(labels_from_xml(path, CLASSES), [1, 0, 1])


def test_labels_from_xml_errors(tmp_path):
    bad = _write(tmp_path / 'bad.xml', '<annotation><object>')
    with pytest.raises(ValueError,
                       match=r'cannot parse annotation .*bad\.xml'):
        labels_from_xml(bad, CLASSES)
    cow = _write(tmp_path / 'cow.xml',
                 '<annotation><object><name>cow</name></object></annotation>')
    with pytest.raises(ValueError,
                       match=r"cow\.xml: unknown class name 'cow'"):
        labels_from_xml(cow, CLASSES)
    with pytest.raises(FileNotFoundError, match='none.xml'):
        labels_from_xml(osp.join(str(tmp_path), 'none.xml'), CLASSES)
