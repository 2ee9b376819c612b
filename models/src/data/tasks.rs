//! A user's meta-learning tasks: a folder of CSV files, one task per file.

use super::split::take_rows;
use super::table::Table;
use crate::maml::{Examples, TaskBatch};
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};

/// One task read from a CSV file: every row is an example.
#[derive(Clone, Debug)]
pub struct UserTask {
    /// The file's stem (`sine-3` for `sine-3.csv`).
    pub name: String,
    /// The file the task was read from.
    pub path: PathBuf,
    /// Inputs `[n, k]`, the input columns in the order asked for.
    pub x: Tensor,
    /// Targets `[n, 1]`.
    pub y: Tensor,
}

impl UserTask {
    /// The number of examples.
    pub fn rows(&self) -> usize {
        self.x.dims()[0]
    }

    /// All rows as one set of examples.
    pub fn examples(&self) -> Examples {
        Examples {
            x: self.x.clone(),
            y: self.y.clone(),
        }
    }

    /// Draws `shots` support and `queries` query examples, disjoint and
    /// without replacement; an error when either count is 0 or when
    /// together they exceed the task's rows.
    pub fn sample(&self, shots: usize, queries: usize, rng: &mut StdRng) -> Result<TaskBatch> {
        let n = self.rows();
        if shots == 0 || queries == 0 {
            return Err(Error::Config(format!(
                "task \"{}\": {shots} shots and {queries} queries; each must be at least 1",
                self.name
            )));
        }
        if shots + queries > n {
            return Err(Error::Format {
                path: self.path.clone(),
                problem: format!(
                    "{shots} shots + {queries} queries need {} rows, the task has {n}",
                    shots + queries
                ),
            });
        }
        let picked = rand::seq::index::sample(rng, n, shots + queries).into_vec();
        let (support, query) = picked.split_at(shots);
        let part = |rows: &[usize]| -> Result<Examples> {
            Ok(Examples {
                x: take_rows(&self.x, rows)?,
                y: take_rows(&self.y, rows)?,
            })
        };
        Ok(TaskBatch {
            support: part(support)?,
            query: part(query)?,
        })
    }
}

/// Reads a folder of tasks: every `*.csv` file in it is one task.
pub struct TaskFolder;

impl TaskFolder {
    /// Reads every `*.csv` file in `dir` (sorted by file name; other files
    /// and sub-folders are ignored) as a task with inputs `x_cols` and the
    /// target `y_col`.
    ///
    /// Errors: no input columns, a target that is also an input, a folder
    /// that cannot be read or holds no CSV file, any [`Table::read`] error,
    /// a file missing a column (naming the file and the column), and a file
    /// with fewer than `min_rows` rows (naming the file, the count and the
    /// minimum).
    ///
    /// ```
    /// use ferrograd_models::data::TaskFolder;
    /// let dir = std::env::temp_dir().join(format!("ferrograd-tasks-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("b.csv"), "x,y\n1,2\n3,4\n").unwrap();
    /// std::fs::write(dir.join("a.csv"), "y,x\n0,1\n5,6\n7,8\n").unwrap();
    /// let tasks = TaskFolder::read(&dir, &["x"], "y", 2).unwrap();
    /// assert_eq!(tasks[0].name, "a");
    /// assert_eq!(tasks[0].x.data(), &[1.0, 6.0, 8.0]);
    /// assert_eq!(tasks[1].y.dims(), &[2, 1]);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn read<S: AsRef<str>>(
        dir: &Path,
        x_cols: &[S],
        y_col: &str,
        min_rows: usize,
    ) -> Result<Vec<UserTask>> {
        if x_cols.is_empty() {
            return Err(Error::Config("tasks need at least one input column".into()));
        }
        if x_cols.iter().any(|c| c.as_ref() == y_col) {
            return Err(Error::Config(format!(
                "column \"{y_col}\" is both an input and the target"
            )));
        }
        let files = csv_files(dir)?;
        if files.is_empty() {
            return Err(Error::Format {
                path: dir.to_path_buf(),
                problem: "folder holds no *.csv task files".into(),
            });
        }
        files
            .into_iter()
            .map(|path| read_task(path, x_cols, y_col, min_rows))
            .collect()
    }
}

/// The `*.csv` files directly in `dir`, sorted by name.
fn csv_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if is_csv && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_task<S: AsRef<str>>(
    path: PathBuf,
    x_cols: &[S],
    y_col: &str,
    min_rows: usize,
) -> Result<UserTask> {
    let table = Table::read(&path)?;
    let x = table.columns(x_cols)?;
    let y = table.columns(&[y_col])?;
    if table.rows() < min_rows {
        return Err(Error::Format {
            path,
            problem: format!(
                "the task has {} rows, fewer than the minimum of {min_rows}",
                table.rows()
            ),
        });
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(UserTask { name, path, x, y })
}
