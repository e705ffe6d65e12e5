"""Tests of mmcpal.pseudo.cam_io: round trip, atomic writes, errors."""
import os

import numpy as np
import pytest

from mmcpal.pseudo import cam_io
from mmcpal.pseudo.cam_io import (CAMFileError, cam_path, is_complete,
                                  load_cam_arrays, load_cams, save_cams)


def _cams(k=2, h=5, w=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((k, h, w)).astype(np.float32)


def test_round_trip_float16(tmp_path):
    cams = _cams()
    cams[0, 0, 0], cams[1, 0, 0] = 0.0, 1.0
    path = cam_path(str(tmp_path), '2007_000032')
    assert path == os.path.join(str(tmp_path), '2007_000032.npz')
    save_cams(path, cams, np.array([3, 15]))
    got, keys = load_cams(path)
    assert got.dtype == np.float32 and keys.dtype == np.int64
    assert keys.tolist() == [3, 15]
    # float16 keeps 11 significant bits: error <= 2**-12 in [0, 1].
    np.testing.assert_array_equal(got, cams.astype(np.float16))
    assert np.abs(got - cams).max() <= 2.0**-12
    assert got[0, 0, 0] == 0.0 and got[1, 0, 0] == 1.0
    assert is_complete(path)


def test_extra_arrays_stored(tmp_path):
    path = str(tmp_path / 'a.npz')
    cams = _cams()
    save_cams(path,
              cams,
              np.array([1, 2]),
              extra=dict(pacam=cams * 0.5, count=np.array([7], np.int32)))
    arrays = load_cam_arrays(path)
    assert arrays['cams'].dtype == np.float16
    assert arrays['pacam'].dtype == np.float16
    np.testing.assert_array_equal(arrays['pacam'],
                                  (cams * 0.5).astype(np.float16))
    assert arrays['count'].dtype == np.int32 and arrays['count'][0] == 7
    # An uncompressed archive: 2 maps of 35 float16 values are stored raw.
    import zipfile
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED
                   for i in zf.infolist())


def test_overwrite_replaces_content(tmp_path):
    path = str(tmp_path / 'a.npz')
    save_cams(path, _cams(seed=1), np.array([1, 2]))
    save_cams(path, _cams(k=1, seed=2), np.array([4]))
    cams, keys = load_cams(path)
    assert cams.shape == (1, 5, 7) and keys.tolist() == [4]
    assert os.listdir(tmp_path) == ['a.npz']


def test_crash_leaves_only_tmp_file(tmp_path):
    """A crash after writing part of the tmp file: nothing under the final
    name, so the image counts as not done."""
    path = str(tmp_path / 'img.npz')
    save_cams(str(tmp_path / 'full.npz'), _cams(), np.array([1, 2]))
    data = (tmp_path / 'full.npz').read_bytes()
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data[:len(data) // 2])
    assert not os.path.exists(path)
    assert not is_complete(path)
    with pytest.raises(FileNotFoundError, match='img.npz'):
        load_cams(path)


def test_failure_during_write_cleans_up(tmp_path, monkeypatch):
    path = str(tmp_path / 'img.npz')

    def boom(file, **arrays):
        file.write(b'PK\x03\x04 partial')
        raise RuntimeError('disk full')

    monkeypatch.setattr(cam_io.np, 'savez', boom)
    with pytest.raises(RuntimeError, match='disk full'):
        save_cams(path, _cams(), np.array([1, 2]))
    assert os.listdir(tmp_path) == []


def test_rename_happens_after_complete_write(tmp_path, monkeypatch):
    path = str(tmp_path / 'img.npz')
    seen = {}
    real_replace = os.replace

    def spy(src, dst):
        seen['src'], seen['dst'] = src, dst
        seen['final_existed'] = os.path.exists(dst)
        seen['src_loadable'] = is_complete(src)
        real_replace(src, dst)

    monkeypatch.setattr(cam_io.os, 'replace', spy)
    save_cams(path, _cams(), np.array([1, 2]))
    assert seen['src'] == f'{path}.tmp-{os.getpid()}'
    assert seen['dst'] == path
    assert seen['final_existed'] is False
    assert seen['src_loadable'] is True
    assert is_complete(path)


def test_truncated_and_corrupt_files(tmp_path):
    path = str(tmp_path / 'a.npz')
    save_cams(path, _cams(), np.array([1, 2]))
    data = (tmp_path / 'a.npz').read_bytes()
    trunc = tmp_path / 'trunc.npz'
    for cut in (10, len(data) // 2, len(data) - 5):
        trunc.write_bytes(data[:cut])
        assert not is_complete(str(trunc))
        with pytest.raises(CAMFileError, match='trunc.npz'):
            load_cams(str(trunc))
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    corrupt = tmp_path / 'corrupt.npz'
    corrupt.write_bytes(bytes(flipped))
    assert not is_complete(str(corrupt))
    empty = tmp_path / 'empty.npz'
    empty.write_bytes(b'')
    assert not is_complete(str(empty))
    assert not is_complete(str(tmp_path / 'missing.npz'))


def test_file_without_keys_is_rejected(tmp_path):
    path = str(tmp_path / 'a.npz')
    np.savez(path, cams=_cams())
    assert not is_complete(path)
    with pytest.raises(CAMFileError, match=r"lacks arrays \['keys'\]"):
        load_cams(path)


@pytest.mark.parametrize('cams, keys, match', [
    (np.zeros((5, 7)), np.array([1]), r'cams must be \(K, H, W\)'),
    (np.zeros((2, 5, 7)), np.array([1]), 'one key per map'),
    (np.zeros((0, 5, 7)), np.zeros(0, int), 'K=0'),
    (np.zeros((1, 5, 7)), np.array([0]), 'keys must be foreground'),
    (np.zeros((2, 5, 7)), np.array([3, 3]), 'unique'),
    (np.zeros((1, 5, 7)), np.array([1.0]), 'keys must be integers'),
    (np.full((1, 5, 7), 2.0), np.array([1]), r'normalised to \[0, 1\]'),
    (np.full((1, 5, 7), np.nan), np.array([1]), 'NaN'),
    (np.zeros((1, 5, 7), np.uint8), np.array([1]), 'floating point'),
])
def test_save_rejects_bad_arrays(tmp_path, cams, keys, match):
    path = str(tmp_path / 'a.npz')
    with pytest.raises(ValueError, match=match):
        save_cams(path, cams, keys)
    assert os.listdir(tmp_path) == []


def test_save_rejects_bad_paths_and_extras(tmp_path):
    with pytest.raises(ValueError, match="must end with '.npz'"):
        save_cams(str(tmp_path / 'a.npy'), _cams(), np.array([1, 2]))
    with pytest.raises(ValueError, match='does not exist'):
        save_cams(str(tmp_path / 'no' / 'a.npz'), _cams(), np.array([1, 2]))
    with pytest.raises(ValueError, match="extra key 'keys'"):
        save_cams(str(tmp_path / 'a.npz'),
                  _cams(),
                  np.array([1, 2]),
                  extra=dict(keys=np.zeros(2)))
    with pytest.raises(ValueError, match='object array'):
        save_cams(str(tmp_path / 'a.npz'),
                  _cams(),
                  np.array([1, 2]),
                  extra=dict(meta=np.array([{}], dtype=object)))


def test_fused_is_the_mean_of_the_normalised_maps(tmp_path):
    from mmcpal.pseudo.cam_io import fuse_cam_pacam
    g = np.random.default_rng(0)
    cams = g.random((2, 4, 5)).astype(np.float32)
    pacam = g.random((2, 4, 5)).astype(np.float32) * 0.5
    # by hand: normalise each class by its max (+1e-5), average, normalise
    n = lambda m: m / (m.reshape(len(m), -1).max(1)[:, None, None] + 1e-5)
    expected = n((n(cams) + n(pacam)) / 2)
    np.testing.assert_allclose(fuse_cam_pacam(cams, pacam), expected,
                               rtol=1e-6)
    assert not np.allclose(expected, (cams + pacam) / 2)
    path = str(tmp_path / 'f.npz')
    save_cams(path, cams, np.array([1, 3]), extra=dict(pacam=pacam))
    c16 = cams.astype(np.float16).astype(np.float32)
    p16 = pacam.astype(np.float16).astype(np.float32)
    fused, keys = load_cams(path, 'fused')
    np.testing.assert_allclose(fused, n((n(c16) + n(p16)) / 2), rtol=1e-6)
    np.testing.assert_array_equal(load_cams(path, 'pacam')[0], p16)
    np.testing.assert_array_equal(load_cams(path, 'cam')[0], c16)
    np.testing.assert_array_equal(keys, [1, 3])


def test_missing_pacam_is_a_clear_error(tmp_path):
    from mmcpal.pseudo.cam_io import (MissingMapError, check_cam_dir,
                                      is_complete)
    path = str(tmp_path / 'a.npz')
    save_cams(path, np.ones((1, 3, 3)), np.array([2]))
    for cam_type in ('pacam', 'fused'):
        with pytest.raises(MissingMapError,
                           match=r"a\.npz.*re-run the cams stage with "
                           r'--cam-type pacam'):
            load_cams(path, cam_type)
        assert not is_complete(path, cam_type)
        with pytest.raises(MissingMapError, match='a.npz'):
            check_cam_dir(str(tmp_path), ['missing', 'a'], cam_type)
    assert is_complete(path) and is_complete(path, 'cam')
    check_cam_dir(str(tmp_path), ['a'], 'cam')
    with pytest.raises(ValueError, match='cam_type must be one of'):
        load_cams(path, 'both')
