//! A user's own data: numeric CSV tables, seeded splits of their rows, and a
//! folder of CSV files as meta-learning tasks.

pub mod split;
pub mod table;
pub mod tasks;

pub use split::{split_indices, take_rows};
pub use table::Table;
pub use tasks::{TaskFolder, UserTask};

#[cfg(test)]
mod tests;
