//! Tensor shapes: up to [`MAX_RANK`] dimensions stored inline (no allocation).

use crate::error::{Result, TensorError};
use core::fmt;

/// The largest number of dimensions a tensor may have.
pub const MAX_RANK: usize = 8;

/// The dimensions of a tensor, outermost first (row-major).
///
/// ```
/// use ferrograd_tensor::Shape;
/// let s = Shape::new(&[2, 3]).unwrap();
/// assert_eq!(s.numel(), 6);
/// assert_eq!(s.strides().as_slice(), &[3, 1]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: u8,
}

impl Shape {
    /// A shape with the given dimensions; an error if there are more than [`MAX_RANK`].
    pub fn new(dims: &[usize]) -> Result<Shape> {
        if dims.len() > MAX_RANK {
            return Err(TensorError::RankTooLarge { rank: dims.len() });
        }
        let mut d = [0; MAX_RANK];
        d[..dims.len()].copy_from_slice(dims);
        Ok(Shape {
            dims: d,
            rank: dims.len() as u8,
        })
    }

    /// The shape of a scalar (rank 0, one element).
    pub const fn scalar() -> Shape {
        Shape {
            dims: [0; MAX_RANK],
            rank: 0,
        }
    }

    /// The dimensions as a slice.
    pub fn as_slice(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.as_slice().iter().product()
    }

    /// Size of dimension `axis` (which must be in range).
    pub fn dim(&self, axis: usize) -> usize {
        self.as_slice()[axis]
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> Shape {
        let mut s = *self;
        let mut acc = 1;
        for i in (0..self.rank()).rev() {
            s.dims[i] = acc;
            acc *= self.dims[i];
        }
        s
    }

    /// Resolves a possibly negative axis (`-1` is the last) for operation `op`.
    pub fn axis(&self, op: &'static str, axis: isize) -> Result<usize> {
        let rank = self.rank() as isize;
        let a = if axis < 0 { axis + rank } else { axis };
        if a < 0 || a >= rank {
            Err(TensorError::InvalidAxis {
                op,
                axis,
                rank: self.rank(),
            })
        } else {
            Ok(a as usize)
        }
    }

    /// This shape with dimension `axis` replaced by `size`.
    pub fn with_dim(&self, axis: usize, size: usize) -> Shape {
        let mut s = *self;
        s.dims[axis] = size;
        s
    }

    /// The NumPy broadcast of two shapes, or a [`TensorError::ShapeMismatch`] naming `op`.
    pub fn broadcast(op: &'static str, a: &Shape, b: &Shape) -> Result<Shape> {
        let rank = a.rank().max(b.rank());
        let mut out = [0; MAX_RANK];
        #[allow(clippy::needless_range_loop)] // reads a.dims and b.dims at shifted positions
        for i in 0..rank {
            let da = if i < rank - a.rank() {
                1
            } else {
                a.dims[i - (rank - a.rank())]
            };
            let db = if i < rank - b.rank() {
                1
            } else {
                b.dims[i - (rank - b.rank())]
            };
            out[i] = if da == db || db == 1 {
                da
            } else if da == 1 {
                db
            } else {
                return Err(TensorError::ShapeMismatch {
                    op,
                    lhs: *a,
                    rhs: *b,
                });
            };
        }
        Ok(Shape {
            dims: out,
            rank: rank as u8,
        })
    }

    /// Strides for reading a tensor of this shape as if broadcast to `target`
    /// (0 along broadcast dimensions). `target` must be a broadcast of `self`.
    pub fn broadcast_strides(&self, target: &Shape) -> Shape {
        let own = self.strides();
        let offset = target.rank() - self.rank();
        let mut s = *target;
        for i in 0..target.rank() {
            s.dims[i] = if i < offset || self.dims[i - offset] == 1 {
                0
            } else {
                own.dims[i - offset]
            };
        }
        s
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.as_slice().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        let a = Shape::new(&[3, 1, 5]).unwrap();
        let b = Shape::new(&[4, 1]).unwrap();
        assert_eq!(
            Shape::broadcast("t", &a, &b).unwrap().as_slice(),
            &[3, 4, 5]
        );
        let c = Shape::new(&[2]).unwrap();
        let err = Shape::broadcast("add", &a, &c).unwrap_err();
        assert_eq!(
            alloc::format!("{err}"),
            "add: incompatible shapes [3, 1, 5] and [2]"
        );
    }

    #[test]
    fn broadcast_strides_zero_on_expanded_axes() {
        let a = Shape::new(&[3, 1]).unwrap();
        let t = Shape::new(&[2, 3, 4]).unwrap();
        assert_eq!(a.broadcast_strides(&t).as_slice(), &[0, 1, 0]);
    }

    #[test]
    fn rank_limit_is_an_error() {
        assert!(matches!(
            Shape::new(&[1; 9]),
            Err(TensorError::RankTooLarge { rank: 9 })
        ));
    }
}
