//! A JSON-lines metrics log that survives a killed run.

use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Writes one JSON object per logged step:
/// `{"step":12,"wall_time":3.25,"loss":0.5,...}`, where `wall_time` is
/// seconds since the logger was created. Each line is written with a single
/// write and reaches the operating system before [`MetricsLogger::log`]
/// returns, so the log of a killed run keeps every line logged. JSON has no
/// NaN or infinity: such values are written as `null`.
///
/// ```
/// use ferrograd_nn::train::{read_metrics, MetricsLogger};
/// let path = std::env::temp_dir().join(format!("ferrograd-doc-{}/metrics.jsonl", std::process::id()));
/// let log = MetricsLogger::create(&path).unwrap();
/// log.log_values(1, &[("loss", 0.75), ("lr", 1e-3)]).unwrap();
/// let lines = read_metrics(&path).unwrap();
/// assert_eq!(lines[0].step, 1);
/// assert_eq!(lines[0].metrics["loss"], Some(0.75));
/// # std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
/// ```
#[derive(Debug)]
pub struct MetricsLogger {
    path: PathBuf,
    file: File,
    start: Instant,
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl MetricsLogger {
    fn open(path: &Path, append: bool) -> Result<MetricsLogger> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(path, e))?;
        }
        let mut options = OpenOptions::new();
        if append {
            options.append(true).create(true);
        } else {
            options.write(true).create(true).truncate(true);
        }
        let file = options.open(path).map_err(|e| io_error(path, e))?;
        Ok(MetricsLogger {
            path: path.to_path_buf(),
            file,
            start: Instant::now(),
        })
    }

    /// A new, empty log at `path` (an existing file is truncated); missing
    /// parent folders are created.
    pub fn create(path: impl AsRef<Path>) -> Result<MetricsLogger> {
        MetricsLogger::open(path.as_ref(), false)
    }

    /// Appends to the log at `path` (created if missing), for a resumed run.
    /// `wall_time` restarts from 0.
    pub fn append(path: impl AsRef<Path>) -> Result<MetricsLogger> {
        MetricsLogger::open(path.as_ref(), true)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seconds since the logger was created.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Writes one line for `step` with `metrics`. The names `step` and
    /// `wall_time` are reserved ([`Error::Config`]); write failures are
    /// [`Error::Io`] naming the file.
    pub fn log(&self, step: u64, metrics: &BTreeMap<String, f64>) -> Result<()> {
        self.write_line(step, metrics.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// [`MetricsLogger::log`] with `(name, value)` pairs, written in the
    /// given order.
    pub fn log_values(&self, step: u64, metrics: &[(&str, f64)]) -> Result<()> {
        self.write_line(step, metrics.iter().copied())
    }

    fn write_line<'a>(
        &self,
        step: u64,
        metrics: impl Iterator<Item = (&'a str, f64)>,
    ) -> Result<()> {
        let mut line = format!(
            "{{\"step\":{step},\"wall_time\":{}",
            json_number(self.elapsed())
        );
        for (name, value) in metrics {
            if name == "step" || name == "wall_time" {
                return Err(Error::Config(format!(
                    "{}: metric name '{name}' is reserved",
                    self.path.display()
                )));
            }
            let key = serde_json::to_string(name).map_err(|e| Error::Config(e.to_string()))?;
            line.push(',');
            line.push_str(&key);
            line.push(':');
            line.push_str(&json_number(value));
        }
        line.push_str("}\n");
        (&self.file)
            .write_all(line.as_bytes())
            .and_then(|()| (&self.file).flush())
            .map_err(|e| io_error(&self.path, e))
    }
}

/// `v` as a JSON number (shortest round-trip form), or `null` if not finite.
fn json_number(v: f64) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

/// One line of a metrics log.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MetricsRecord {
    /// The step it was logged at.
    pub step: u64,
    /// Seconds since the logger was created.
    pub wall_time: f64,
    /// The metrics; `None` where a non-finite value was logged.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, Option<f64>>,
}

/// Reads a metrics log written by [`MetricsLogger`]. A line that is not a
/// metrics object is an [`Error::Format`] naming the line; a last line
/// without its newline (a run killed mid-write) is skipped.
pub fn read_metrics(path: impl AsRef<Path>) -> Result<Vec<MetricsRecord>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(record) => out.push(record),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => {
                return Err(Error::Format {
                    path: path.to_path_buf(),
                    problem: format!("line {}: {e}", i + 1),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-metrics-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("nested/metrics.jsonl")
    }

    #[test]
    fn lines_are_json_and_readable_while_logging() {
        let path = temp_path("lines");
        let log = MetricsLogger::create(&path).unwrap();
        let mut m = BTreeMap::new();
        m.insert("loss".to_string(), 0.5);
        m.insert("weird \"name\"".to_string(), f64::NAN);
        log.log(1, &m).unwrap();
        log.log_values(2, &[("loss", 0.25), ("acc", 1.0)]).unwrap();
        // Read while the logger is alive: every line is already there.
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["step"], 1);
        assert!(lines[0]["wall_time"].as_f64().unwrap() >= 0.0);
        assert_eq!(lines[0]["loss"], 0.5);
        assert!(lines[0]["weird \"name\""].is_null());
        assert_eq!(lines[1]["acc"], 1.0);
        assert!(text.starts_with("{\"step\":1,\"wall_time\":"));
        let records = read_metrics(&path).unwrap();
        assert_eq!(records[1].metrics["loss"], Some(0.25));
        assert_eq!(records[0].metrics["weird \"name\""], None);
        drop(log);
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn append_keeps_lines_and_partial_last_line_is_skipped() {
        let path = temp_path("append");
        MetricsLogger::create(&path)
            .unwrap()
            .log_values(1, &[("a", 1.0)])
            .unwrap();
        MetricsLogger::append(&path)
            .unwrap()
            .log_values(2, &[("a", 2.0)])
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"step\":3,\"wall").unwrap();
        let steps: Vec<u64> = read_metrics(&path)
            .unwrap()
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, [1, 2]);
        f.write_all(b"\nnot json\n").unwrap();
        let err = read_metrics(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Format { problem, .. } if problem.starts_with("line 3")),
            "{err}"
        );
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn errors_name_the_path() {
        let path = temp_path("errors");
        let log = MetricsLogger::create(&path).unwrap();
        let err = log.log_values(1, &[("step", 1.0)]).unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("'step'"),
            "{err}"
        );
        // A parent that is a file cannot be created as a folder.
        let blocked = path.join("below.jsonl");
        match MetricsLogger::create(&blocked) {
            Err(Error::Io { path: p, .. }) => assert_eq!(p, blocked),
            other => panic!("expected Io error, got {other:?}"),
        }
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }
}
