"""Photos of reports in the store, on both backends: checked, cleaned, stored once, or refused.

Every photo here is a real image made with Pillow; every refusal is checked to
leave nothing behind: no file in the media folder, no row.
"""

from __future__ import annotations

import hashlib
import io
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from PIL import Image

from geogrid import Hierarchy
from geogrid.access import Principal
from geogrid.clock import fixed_clock
from geogrid.errors import NotFoundError
from geogrid.media import THUMB_SIDE, PhotoRefusedError, PhotoTooLargeError
from geogrid.reports import NewReport
from geogrid.storage import PermissionDeniedError, open_store
from geogrid.storage.audit import AuditQuery
from geogrid.storage.media import MAX_PER_STAGE, Media, MediaConflictError
from tests.conftest import SOUTH, STEP, WEST, write_tiny_district
from tests.storage.conftest import BACKENDS, fresh_postgis

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
ROOT = "cli:root"
#: A grid worker of street 1 (grids 101–104); report 2 lies in street 2.
WORKER = Principal("zhang.san", "grid_worker", scope=("1",), via="token")
GPS_IFD, ORIENTATION = 0x8825, 0x0112


# --- photos made with Pillow ---------------------------------------------------------------------


def jpeg(size=(400, 300), color="orange", exif=None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    return out.getvalue()


def png(size=(200, 100), mode="RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (0, 128, 255, 100) if mode == "RGBA" else 1).save(out, "PNG")
    return out.getvalue()


def webp(size=(300, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "WEBP")
    return out.getvalue()


def phone_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: where it stood (GPS) and how it was held (orientation)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (28.0, 0.0, 30.0), 3: "E", 4: (120.0, 0.0, 15.0)}
    return exif


# --- a store with two reports --------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def district_store(request, tmp_path_factory):
    """A store of each backend holding the tiny district, one per module: tests add reports."""
    folder = tmp_path_factory.mktemp(request.param)
    manifest = write_tiny_district(folder / "district")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'g.db'}"
        else:
            url = stack.enter_context(fresh_postgis(request.getfixturevalue("postgis_template")))
        store = open_store(url, clock=fixed_clock(NOW))
        store.import_generation(Hierarchy.from_manifest(manifest), "2026", activate=True)
        yield store
        store.close()


@pytest.fixture
def reports(district_store):
    """(store, [a new report in grid 101, one in grid 204])."""
    added = district_store.add_reports([
        NewReport("city.rubbish", WEST + 0.005, SOUTH + 0.005, description="垃圾堆放"),
        NewReport("city.rubbish", WEST + 3.5 * STEP, SOUTH + 1.5 * STEP, description="占道"),
    ], actor=ROOT)  # fmt: skip
    return district_store, [r.id for r in added]


@pytest.fixture
def media(reports, tmp_path):
    """The store's photos in a media folder of this test's own."""
    store, _ = reports
    return Media(store.db, store.clock, tmp_path / "media")


def stored_files(media: Media) -> list[str]:
    if not media.folder.exists():
        return []
    return sorted(str(p.relative_to(media.folder)) for p in media.folder.rglob("*") if p.is_file())


def media_rows(store, report_ids) -> int:
    """How many photo rows the reports have."""
    marks = ", ".join("?" * len(report_ids))
    with store.db.transaction(write=False) as tx:
        return store.db.rows(tx, f"SELECT COUNT(*) AS n FROM media WHERE report_id IN ({marks})",
                             list(report_ids))[0]["n"]  # fmt: skip


# --- accepted ------------------------------------------------------------------------------------


def test_a_phone_photo_is_stored_upright_without_its_gps(reports, media):
    store, (report, _) = reports
    original = jpeg((400, 300), exif=phone_exif(orientation=6))
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the phone's position

    record = media.add(report, original, stage="report", actor=WORKER, original_name="IMG_1.JPG",
                       content_type="image/jpeg")  # fmt: skip

    assert record.created and record.stage == "report" and record.actor == "zhang.san"
    assert (record.width, record.height) == (300, 400)  # turned as the phone was held
    assert record.created_at == NOW and record.original_name == "IMG_1.JPG"
    data = media.path_of(record).read_bytes()
    assert hashlib.sha256(data).hexdigest() == record.sha256 and len(data) == record.bytes
    assert record.path == f"{record.sha256[:2]}/{record.sha256}.jpg"
    assert record.thumb_path == f"{record.sha256[:2]}/{record.sha256}.thumb.jpg"
    stored = Image.open(io.BytesIO(data))
    assert stored.format == "JPEG" and stored.size == (300, 400)
    assert not stored.getexif() and b"Exif" not in data  # GPS and the rest are gone
    thumb = Image.open(media.path_of(record, thumb=True))
    assert thumb.format == "JPEG" and max(thumb.size) == THUMB_SIDE and thumb.size == (240, 320)
    [event] = store.audit.events(AuditQuery(action="media.create", object_id=str(record.id)))
    assert event.principal == "zhang.san" and event.after["report"] == report


def test_png_stays_png_and_its_thumbnail_is_a_jpeg(reports, media):
    _, (report, _) = reports
    record = media.add(report, png((1000, 500)), stage="report", actor=ROOT)
    assert record.content_type == "image/png" and record.path.endswith(".png")
    assert Image.open(media.path_of(record)).mode == "RGBA"  # transparency kept
    assert Image.open(media.path_of(record, thumb=True)).size == (320, 160)


def test_webp_is_accepted_and_a_small_photo_is_not_enlarged(reports, media):
    _, (report, _) = reports
    record = media.add(report, webp((100, 80)), stage="report", actor=ROOT)
    assert record.content_type == "image/webp" and record.path.endswith(".webp")
    assert Image.open(media.path_of(record, thumb=True)).size == (100, 80)


def test_the_same_photo_twice_is_stored_once(reports, media):
    store, (report, other) = reports
    photo = jpeg()
    first = media.add(report, photo, stage="report", actor=ROOT)
    again = media.add(report, photo, stage="report", actor=ROOT)
    assert again.created is False and again.id == first.id
    assert (
        media_rows(store, reports[1]) == 1 and len(stored_files(media)) == 2
    )  # the photo and its thumb
    elsewhere = media.add(other, photo, stage="report", actor=ROOT)  # another report: its own row
    assert elsewhere.created and elsewhere.path == first.path
    assert len(stored_files(media)) == 2  # one file, named by its content
    assert [r.id for r in media.of_report(report)] == [first.id]
    assert media.get(elsewhere.id) == elsewhere.__class__(
        **{**elsewhere.__dict__, "created": False}
    )


def test_reading_photos_of_reports(reports, media):
    _, (report, other) = reports
    a = media.add(report, jpeg(color="red"), stage="report", actor=ROOT)
    b = media.add(report, jpeg(color="blue"), stage="report", actor=ROOT)
    assert [r.id for r in media.of_report(report)] == [a.id, b.id]
    assert media.of_report(other) == []
    assert set(media.of_reports([report, other])) == {report}
    with pytest.raises(NotFoundError, match="media 999 does not exist"):
        media.get(999)
    with pytest.raises(NotFoundError):
        media.get(2**70)


# --- refused, leaving nothing behind ------------------------------------------------------------


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")  # 48 million pixels in a few kilobytes
    return out.getvalue()


REFUSED = {
    "text renamed .jpg": (b"Dear committee,\nthe bins are full.\n", "image/jpeg", "bins.jpg",
                          "photo: not a JPEG, PNG or WebP image"),
    "PNG header, garbage body": (png()[:33] + bytes(range(256)) * 4, "image/png", "x.png",
                                 "photo: not a readable PNG image"),
    "cut short": (jpeg()[:400], "image/jpeg", "x.jpg", "photo: not a readable JPEG image"),
    "pixel bomb": (_bomb(), "image/png", "x.png", "photo: 8000 × 6000 = 48,000,000 pixels; "
                   "at most 40,000,000"),
    "declared as text": (jpeg(), "text/plain", "x.txt", "photo: declared as text/plain"),
    "HEIC": (b"\x00\x00\x00\x18ftypheic" + bytes(64), "image/heic", "IMG_2.HEIC",
             "photo: HEIC/HEIF photos cannot be read here; send JPEG, PNG or WebP"),
    "empty": (b"", "image/jpeg", "x.jpg", "photo: the file is empty"),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_what_is_not_a_photo_is_refused_and_nothing_is_written(reports, media, case):
    store, (report, _) = reports
    data, content_type, name, message = REFUSED[case]
    with pytest.raises(PhotoRefusedError) as refused:
        media.add(report, data, stage="report", actor=ROOT, content_type=content_type,
                  original_name=name)  # fmt: skip
    assert str(refused.value).startswith(message)
    assert stored_files(media) == [] and media_rows(store, reports[1]) == 0


def test_a_photo_over_the_limit_is_refused_naming_it(reports, media):
    store, (report, _) = reports
    photo = jpeg((800, 600))
    with pytest.raises(PhotoTooLargeError, match=f"photo: {len(photo):,} bytes; at most 1,000 "):
        media.add(report, photo, stage="report", actor=ROOT, max_bytes=1000)
    assert stored_files(media) == [] and media_rows(store, reports[1]) == 0


def test_a_report_out_of_scope_does_not_exist(reports, media):
    store, (_, in_street_2) = reports
    with pytest.raises(NotFoundError, match=f"report {in_street_2} does not exist"):
        media.add(in_street_2, jpeg(), stage="report", actor=WORKER)
    with pytest.raises(NotFoundError):
        media.add(123456, jpeg(), stage="report", actor=ROOT)
    assert stored_files(media) == [] and media_rows(store, reports[1]) == 0


def test_who_may_add_photos_of_each_stage(reports, media):
    store, (report, _) = reports
    viewer = Principal("wang.wu", "viewer", via="token")
    with pytest.raises(PermissionDeniedError, match="may not add feedback photos"):
        media.add(report, jpeg(), stage="feedback", actor=viewer)
    # A grid worker adds feedback photos only to the reports dispatched to them.
    with pytest.raises(PermissionDeniedError, match="only its assignee adds feedback photos"):
        media.add(report, jpeg(), stage="feedback", actor=WORKER)
    with pytest.raises(Exception, match="stage: must be report or feedback"):
        media.add(report, jpeg(), stage="after", actor=ROOT)
    assert stored_files(media) == [] and media_rows(store, reports[1]) == 0
    assert media.add(report, jpeg(), stage="feedback", actor=ROOT).stage == "feedback"


def test_a_closed_report_takes_no_more_photos_but_a_resend_is_answered(reports, media):
    store, (report, _) = reports
    sent = media.add(report, jpeg(color="red"), stage="report", actor=ROOT)
    store.transition(report, "closed", actor=ROOT, note="重复上报 duplicate")
    with pytest.raises(MediaConflictError, match=f"photo: report {report} is closed"):
        media.add(report, jpeg(color="blue"), stage="report", actor=ROOT)
    # The phone's offline queue sends again what it sent before the report was closed.
    assert media.add(report, jpeg(color="red"), stage="report", actor=ROOT).id == sent.id
    assert media_rows(store, reports[1]) == 1 and len(stored_files(media)) == 2


def test_a_report_takes_at_most_six_photos_of_each_stage(reports, media):
    store, (report, _) = reports
    colours = ["red", "green", "blue", "yellow", "purple", "white", "black"]
    for colour in colours[:MAX_PER_STAGE]:
        media.add(report, jpeg(color=colour), stage="report", actor=ROOT)
    with pytest.raises(MediaConflictError, match="has 6 report photos already"):
        media.add(report, jpeg(color=colours[-1]), stage="report", actor=ROOT)
    assert media_rows(store, reports[1]) == MAX_PER_STAGE
    assert media.add(report, jpeg(color=colours[-1]), stage="feedback", actor=ROOT).created


def test_the_store_keeps_its_photos_in_its_media_folder(store_url, tmp_path):
    store = open_store(store_url, media_folder=tmp_path / "photos")
    try:
        assert store.media.folder == tmp_path / "photos"
    finally:
        store.close()
