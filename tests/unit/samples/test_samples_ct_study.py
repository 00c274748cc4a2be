"""write_ct_study: any number of series and instances of one synthetic CT study, and its template."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread, dcmwrite

from bridge.samples import UID_ROOT, ct_template_dataset, write_ct_study, write_samples


def test_three_series_of_four_make_twelve_files_of_one_study(tmp_path: Path) -> None:
    paths = write_ct_study(tmp_path, n_series=3, per_series=4)

    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"ct-bench/series-{s}/IM{i:04d}.dcm" for s in (1, 2, 3) for i in (1, 2, 3, 4)
    ]
    headers = [dcmread(p, stop_before_pixels=True) for p in paths]
    assert len({ds.StudyInstanceUID for ds in headers}) == 1
    assert len({ds.SeriesInstanceUID for ds in headers}) == 3
    assert len({ds.SOPInstanceUID for ds in headers}) == 12
    assert {ds.AccessionNumber for ds in headers} != {"ACC-2024-0001"}  # not the bundled study's order
    assert all(ds.SOPInstanceUID.startswith(UID_ROOT) and len(ds.SOPInstanceUID) <= 64 for ds in headers)
    assert [ds.SeriesNumber for ds in headers[::4]] == [1, 2, 3]
    # odd series are the 5 mm reconstruction with timezone offset, even ones the 1 mm lung without
    assert [ds.get("TimezoneOffsetFromUTC") for ds in headers[::4]] == ["+0100", None, "+0100"]


def test_seed_separates_studies_and_never_meets_the_bundled_study(tmp_path: Path) -> None:
    bench = dcmread(write_ct_study(tmp_path / "a", n_series=1, per_series=1)[0])
    other = dcmread(write_ct_study(tmp_path / "b", n_series=1, per_series=1, seed="other")[0])
    [bundled_path] = [p for p in write_samples(tmp_path / "c") if p.match("ct-chest/series-1/IM0001.dcm")]
    bundled = dcmread(bundled_path)

    assert len({bench.StudyInstanceUID, other.StudyInstanceUID, bundled.StudyInstanceUID}) == 3
    assert bench.AccessionNumber != other.AccessionNumber


def test_matrix_size_sets_rows_columns_and_pixel_data_length(tmp_path: Path) -> None:
    [path] = write_ct_study(tmp_path, n_series=1, per_series=1, rows=32, columns=24)

    ds = dcmread(path)
    assert (ds.Rows, ds.Columns) == (32, 24)
    assert ds.pixel_array.shape == (32, 24)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_series": 0, "per_series": 1},
        {"n_series": 1, "per_series": 0},
        {"n_series": 1, "per_series": 1, "rows": 0},
        {"n_series": 1, "per_series": 1, "seed": "../escape"},
        {"n_series": 1, "per_series": 1, "seed": ""},
    ],
)
def test_bad_arguments_raise_value_error_and_write_nothing(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        write_ct_study(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_ct_template_dataset_is_the_first_instance_of_the_bundled_series(tmp_path: Path) -> None:
    written = {p.relative_to(tmp_path).as_posix(): p for p in write_samples(tmp_path)}

    for series_number in (1, 2):
        buffer = BytesIO()
        dcmwrite(buffer, ct_template_dataset(series_number=series_number), enforce_file_format=True)
        assert buffer.getvalue() == written[f"ct-chest/series-{series_number}/IM0001.dcm"].read_bytes()
