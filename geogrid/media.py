"""Photos of reports, checked and cleaned before anything is stored.

A photo sent by a resident's or a grid worker's phone is untrusted bytes. Before
it is accepted, :func:`prepare_photo`

* checks its size (at most ``max_bytes``) and that both the type it declares (the
  upload's content type, or its file name) and the type its first bytes show are
  JPEG, PNG or WebP: HEIC (iPhones' default) is refused with a hint, because
  Pillow cannot decode it here;
* refuses a decompression bomb (more than ``max_pixels`` pixels) before decoding;
* decodes it fully with Pillow, so a truncated or forged file is refused now,
  not when someone opens it;
* turns it upright (EXIF orientation) and encodes it again without its EXIF,
  XMP and text chunks: a phone's EXIF holds where it stood (GPS), which is
  personal data; the colour profile stays;
* makes a JPEG thumbnail whose longest side is :data:`THUMB_SIDE` pixels.

What it returns is what is stored: its ``sha256`` is of the stored bytes, so the
same photo sent twice is recognised and stored once. This module does no I/O;
:mod:`geogrid.storage.media` writes the files and the rows.

Examples
--------
>>> import io
>>> from PIL import Image
>>> buffer = io.BytesIO()
>>> Image.new("RGB", (1600, 1200), "orange").save(buffer, "JPEG")
>>> photo = prepare_photo(buffer.getvalue(), content_type="image/jpeg")
>>> photo.content_type, photo.width, photo.height, photo.thumb_size
('image/jpeg', 1600, 1200, (320, 240))
>>> photo.paths == (f"{photo.sha256[:2]}/{photo.sha256}.jpg",
...                 f"{photo.sha256[:2]}/{photo.sha256}.thumb.jpg")
True
>>> prepare_photo(b"hello, not a photo", content_type="image/jpeg")
Traceback (most recent call last):
...
geogrid.media.PhotoRefusedError: photo: not a JPEG, PNG or WebP image (its first bytes are b'hello, n')
"""  # noqa: E501

from __future__ import annotations

import hashlib
import io
import mimetypes
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError

from geogrid.errors import InputError

#: The types accepted, with the format name Pillow gives each and the stored suffix.
ACCEPTED: dict[str, tuple[str, str]] = {
    "image/jpeg": ("JPEG", "jpg"),
    "image/png": ("PNG", "png"),
    "image/webp": ("WEBP", "webp"),
}
ACCEPTED_NAMES = "JPEG, PNG or WebP"
#: Declared types that say nothing (some clients send them for every file).
UNDECLARED = ("", "application/octet-stream")
MAX_BYTES = 8_000_000
MAX_PIXELS = 40_000_000
THUMB_SIDE = 320
JPEG_QUALITY = 85
THUMB_QUALITY = 80
WEBP_QUALITY = 85
#: ISO base media "brands" of HEIC/HEIF files (iPhones' photos), after ``ftyp``.
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
HEIC_HINT = (
    "HEIC/HEIF photos cannot be read here; send JPEG, PNG or WebP (on an iPhone: "
    "Settings → Camera → Formats → Most Compatible)"
)


class PhotoRefusedError(InputError):
    """An upload that is not an acceptable photo; the message names the field and why."""


class PhotoTooLargeError(PhotoRefusedError):
    """An upload over the size limit (the web app answers 413)."""


@dataclass(frozen=True)
class Photo:
    """A checked photo, cleaned and encoded as it will be stored, with its thumbnail."""

    data: bytes
    thumb: bytes
    content_type: str
    width: int
    height: int
    thumb_size: tuple[int, int]

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the stored bytes: the photo's name in the media folder."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def suffix(self) -> str:
        return ACCEPTED[self.content_type][1]

    @property
    def paths(self) -> tuple[str, str]:
        """Where the photo and its thumbnail go, relative to the media folder."""
        return media_paths(self.sha256, self.suffix)


def media_paths(sha256: str, suffix: str) -> tuple[str, str]:
    """The stored photo's and its thumbnail's paths, relative to the media folder.

    Files are named by their content and spread over 256 folders by its first two
    hex digits, so no folder grows too large and equal photos share one file.

    Examples
    --------
    >>> media_paths("ab12cd", "png")
    ('ab/ab12cd.png', 'ab/ab12cd.thumb.jpg')
    """
    folder = PurePosixPath(sha256[:2])
    return str(folder / f"{sha256}.{suffix}"), str(folder / f"{sha256}.thumb.jpg")


def prepare_photo(
    data: bytes,
    *,
    content_type: str | None = None,
    original_name: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    field: str = "photo",
) -> Photo:
    """Check an uploaded photo and make what is stored of it (see the module's notes).

    Refused with :class:`PhotoRefusedError` (:class:`PhotoTooLargeError` over
    ``max_bytes``), its message starting with ``field``.

    Examples
    --------
    >>> prepare_photo(b"", content_type="image/png")
    Traceback (most recent call last):
    ...
    geogrid.media.PhotoRefusedError: photo: the file is empty
    >>> prepare_photo(b"x" * 10, content_type="image/png", max_bytes=5)
    Traceback (most recent call last):
    ...
    geogrid.media.PhotoTooLargeError: photo: 10 bytes; at most 5 bytes
    """
    if not data:
        raise PhotoRefusedError(f"{field}: the file is empty")
    if len(data) > max_bytes:
        raise PhotoTooLargeError(f"{field}: {len(data):,} bytes; at most {max_bytes:,} bytes")
    check_declared(content_type, original_name, field)
    sniffed = sniff(data, field)
    image = _decoded(data, sniffed, max_pixels, field)
    return _cleaned(image, sniffed)


def check_declared(content_type: str | None, original_name: str | None, field: str = "photo"):
    """Refuse an upload whose declared type (content type, else file name) is not accepted.

    Examples
    --------
    >>> check_declared("image/jpeg; charset=binary", "IMG_0001.JPG")
    >>> check_declared("text/plain", "notes.txt")
    Traceback (most recent call last):
    ...
    geogrid.media.PhotoRefusedError: photo: declared as text/plain; send a JPEG, PNG or WebP image
    >>> check_declared(None, "IMG_0002.HEIC")
    Traceback (most recent call last):
    ...
    geogrid.media.PhotoRefusedError: photo: HEIC/HEIF photos cannot be read here; send JPEG, PNG or WebP (on an iPhone: Settings → Camera → Formats → Most Compatible)
    """  # noqa: E501
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in UNDECLARED and original_name:
        declared = _type_of_name(original_name)
    if declared in UNDECLARED or declared in ACCEPTED:
        return
    if declared in ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"):
        raise PhotoRefusedError(f"{field}: {HEIC_HINT}")
    raise PhotoRefusedError(f"{field}: declared as {declared}; send a {ACCEPTED_NAMES} image")


def _type_of_name(name: str) -> str:
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if suffix in (".heic", ".heif"):
        return "image/heic"
    return mimetypes.types_map.get(suffix, "") if suffix else ""


def sniff(data: bytes, field: str = "photo") -> str:
    """The accepted type the first bytes show; refused if they show none.

    Examples
    --------
    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(20))
    'image/png'
    >>> sniff(b"RIFF\\x10\\x00\\x00\\x00WEBPVP8 ")
    'image/webp'
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        raise PhotoRefusedError(f"{field}: {HEIC_HINT}")
    raise PhotoRefusedError(
        f"{field}: not a {ACCEPTED_NAMES} image (its first bytes are {data[:8]!r})"
    )


def _decoded(data: bytes, content_type: str, max_pixels: int, field: str) -> Image.Image:
    """The image fully decoded, opened only as the sniffed format; bombs refused unread."""
    fmt = ACCEPTED[content_type][0]
    try:
        with warnings.catch_warnings():
            # Our own limit is checked below; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width * height > max_pixels:
                raise PhotoRefusedError(_too_many_pixels(field, width, height, max_pixels))
            image.load()
    except Image.DecompressionBombError:
        raise PhotoRefusedError(f"{field}: too many pixels; at most {max_pixels:,}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports a broken file through any of these, depending on the format.
        raise PhotoRefusedError(f"{field}: not a readable {fmt} image ({_reason(exc)})") from None
    return image


def _too_many_pixels(field: str, width: int, height: int, max_pixels: int) -> str:
    return (f"{field}: {width} × {height} = {width * height:,} pixels; "
            f"at most {max_pixels:,}")  # fmt: skip


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def _cleaned(image: Image.Image, content_type: str) -> Photo:
    """The image upright, encoded again without its metadata, and its thumbnail."""
    icc = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)
    data = _encoded(upright, content_type, icc)
    thumb = _thumbnail(upright)
    return Photo(data=data, thumb=thumb.getvalue(), content_type=content_type,
                 width=upright.width, height=upright.height,
                 thumb_size=Image.open(thumb).size)  # fmt: skip


def _encoded(image: Image.Image, content_type: str, icc: bytes | None) -> bytes:
    """``image`` in its own format, with nothing but its pixels and colour profile.

    Pillow writes EXIF, XMP and text chunks only when asked to, so they are gone.
    """
    out = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    if content_type == "image/jpeg":
        rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
        rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, **extra)
    elif content_type == "image/png":
        image.save(out, "PNG", optimize=True, **extra)
    else:
        mode = "RGBA" if _has_alpha(image) else "RGB"
        image.convert(mode).save(out, "WEBP", quality=WEBP_QUALITY, method=4, **extra)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> io.BytesIO:
    """A JPEG no larger than :data:`THUMB_SIDE` on its longest side (transparency on white)."""
    small = image.copy()
    small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    if _has_alpha(small):
        background = Image.new("RGB", small.size, "white")
        background.paste(small.convert("RGBA"), mask=small.convert("RGBA").getchannel("A"))
        small = background
    elif small.mode != "RGB":
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
    out.seek(0)
    return out


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
