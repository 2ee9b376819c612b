//! A user's own data: numeric CSV tables, seeded splits of their rows, a
//! folder of CSV files as meta-learning tasks, and MNIST-format (IDX) digit
//! images with their point clouds, and synthetic stroke digits.

pub mod digits;
pub mod idx;
pub mod split;
pub mod strokes;
pub mod table;
pub mod tasks;

pub use split::{split_indices, take_rows};
pub use table::Table;
pub use tasks::{TaskFolder, UserTask};

#[cfg(test)]
mod tests;
