//! Configuration: one struct per family is both its command-line arguments
//! (clap derive) and its serialised configuration, so every default is
//! written once (in the struct's `Default`, which the clap attributes read).
//!
//! [`resolve`] builds the configuration of a run, later sources overriding
//! earlier ones key by key:
//!
//! 1. the family's defaults;
//! 2. the family's `--test` preset (a smaller run), if asked for;
//! 3. a YAML file given with `--config FILE` (unknown keys refused by name);
//! 4. every flag the user typed on the command line.
//!
//! So `--test` shrinks a run but never overrides a flag the user gave, and
//! every key of the YAML file can be overridden on the command line.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
use ferrograd_nn::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Options of every training command, beside the family's configuration.
#[derive(Args, Clone, Debug, Default)]
pub struct RunArgs {
    /// Output folder (refused if it holds an earlier run, unless --overwrite).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint, with its saved
    /// configuration (a longer run may be asked for).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "overwrite", "config"])]
    pub resume: Option<PathBuf>,
    /// Delete the earlier run's files in --out first.
    #[arg(long)]
    pub overwrite: bool,
    /// A YAML file of configuration keys (the names of the long flags, with
    /// `_` for `-`); flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A small run of a few seconds (for CI); flags you give still count.
    #[arg(long)]
    pub test: bool,
    /// Do not draw PNG plots.
    #[arg(long)]
    pub no_plot: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    pub quiet: bool,
    /// Anomaly mode: stop at the first operation that produces a NaN or an
    /// infinity (forward or backward), naming it, its input shapes and its
    /// source line; slower (also FERROGRAD_DETECT_ANOMALY=1).
    #[arg(long)]
    pub detect_anomaly: bool,
}

/// The ids of the arguments the user typed on the command line.
pub fn given_on_command_line(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

fn object(v: Value, what: &str) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(Error::Config(format!(
            "{what}: expected a mapping of keys to values, got {other}"
        ))),
    }
}

fn to_object<C: Serialize>(c: &C) -> Result<Map<String, Value>> {
    object(
        serde_json::to_value(c).map_err(|e| Error::Config(format!("configuration: {e}")))?,
        "configuration",
    )
}

/// Reads a YAML configuration file as a mapping.
pub fn read_yaml(path: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_yaml(&text, path)
}

/// Parses YAML configuration text as a mapping (an empty document is an
/// empty mapping); `path` is the file named in errors.
pub fn parse_yaml(text: &str, path: &Path) -> Result<Map<String, Value>> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("not valid YAML: {e}"),
    })?;
    if value.is_null() {
        return Ok(Map::new());
    }
    object(value, &path.display().to_string()).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// The configuration of a run (see the module docs): `matches` are the
/// parsed arguments of the family's command (the config's fields among
/// them), `test` the family's preset for `--test`.
pub fn resolve<C>(matches: &ArgMatches, yaml: Option<&Path>, test: Option<fn(&mut C)>) -> Result<C>
where
    C: FromArgMatches + Serialize + DeserializeOwned + Default,
{
    resolve_sections(matches, yaml, test, &[])
}

/// The keys of the YAML mapping `map` with the mappings under `sections`
/// (`data:`, `model:`, ...) moved to the top level; a key given twice is an
/// error naming it and the file.
pub fn flatten_sections(
    map: Map<String, Value>,
    sections: &[&str],
    path: &Path,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let put = |key: String, value: Value, out: &mut Map<String, Value>| {
        if out.contains_key(&key) {
            return Err(Error::Format {
                path: path.to_path_buf(),
                problem: format!("key '{key}' is given twice"),
            });
        }
        out.insert(key, value);
        Ok(())
    };
    for (key, value) in map {
        match value {
            Value::Object(inner) if sections.contains(&key.as_str()) => {
                for (k, v) in inner {
                    put(k, v, &mut out)?;
                }
            }
            Value::Null if sections.contains(&key.as_str()) => {}
            other => put(key, other, &mut out)?,
        }
    }
    Ok(out)
}

/// [`resolve`] for a family whose YAML files may group their keys in
/// `sections` (see [`flatten_sections`]).
pub fn resolve_sections<C>(
    matches: &ArgMatches,
    yaml: Option<&Path>,
    test: Option<fn(&mut C)>,
    sections: &[&str],
) -> Result<C>
where
    C: FromArgMatches + Serialize + DeserializeOwned + Default,
{
    let typed = C::from_arg_matches(matches).map_err(|e| Error::Config(e.to_string()))?;
    let mut base = C::default();
    if let Some(preset) = test {
        preset(&mut base);
    }
    let mut merged = to_object(&base)?;
    let known: Vec<String> = merged.keys().cloned().collect();
    if let Some(path) = yaml {
        for (key, value) in flatten_sections(read_yaml(path)?, sections, path)? {
            if !merged.contains_key(&key) {
                return Err(Error::Format {
                    path: path.to_path_buf(),
                    problem: format!("unknown key '{key}'; the keys are: {}", known.join(", ")),
                });
            }
            let mut trial = merged.clone();
            trial.insert(key.clone(), value);
            serde_json::from_value::<C>(Value::Object(trial.clone())).map_err(|e| {
                Error::Format {
                    path: path.to_path_buf(),
                    problem: format!("key '{key}': {e}"),
                }
            })?;
            merged = trial;
        }
    }
    let typed = to_object(&typed)?;
    for id in given_on_command_line(matches) {
        if let Some(v) = typed.get(&id) {
            merged.insert(id, v.clone());
        }
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| Error::Config(format!("configuration: {e}")))
}

/// For `--resume`: the saved configuration `saved`, with the flags the user
/// gave applied if they are among `may_change` (the run's length); any other
/// flag that differs from the saved value is an error naming it.
pub fn resume_config<C>(matches: &ArgMatches, saved: &C, may_change: &[&str]) -> Result<C>
where
    C: FromArgMatches + Serialize + DeserializeOwned,
{
    let typed =
        to_object(&C::from_arg_matches(matches).map_err(|e| Error::Config(e.to_string()))?)?;
    let mut merged = to_object(saved)?;
    for id in given_on_command_line(matches) {
        let Some(given) = typed.get(&id) else {
            continue;
        };
        if merged.get(&id) == Some(given) {
            continue;
        }
        if may_change.contains(&id.as_str()) {
            merged.insert(id, given.clone());
        } else {
            return Err(Error::Config(format!(
                "--resume continues a run with its saved configuration: --{} cannot change \
                 (saved {}, given {}); only {} may",
                id.replace('_', "-"),
                merged.get(&id).cloned().unwrap_or(Value::Null),
                given,
                may_change
                    .iter()
                    .map(|m| format!("--{}", m.replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| Error::Config(format!("configuration: {e}")))
}

/// Reads a run's saved `config.json` as a `C`.
pub fn read_saved<C: DeserializeOwned>(path: &Path) -> Result<C> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        problem: format!("not this family's configuration: {e}"),
    })
}

/// Range checks of a configuration, each error naming the flag and what it
/// must be (`maml sinusoid: --meta-batch must be at least 1, got 0`).
#[derive(Clone, Copy, Debug)]
pub struct Checks(pub &'static str);

impl Checks {
    /// The error for `field` (a config key; shown as its flag).
    pub fn fail(&self, field: &str, why: impl std::fmt::Display) -> Error {
        Error::Config(format!("{}: --{} {why}", self.0, field.replace('_', "-")))
    }

    /// Each `(field, value, minimum)`.
    pub fn at_least(&self, fields: &[(&str, usize, usize)]) -> Result<()> {
        match fields.iter().find(|(_, v, min)| v < min) {
            Some((f, v, min)) => Err(self.fail(f, format!("must be at least {min}, got {v}"))),
            None => Ok(()),
        }
    }

    /// A positive, finite number.
    pub fn positive(&self, field: &str, v: f64) -> Result<()> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be positive and finite, got {v}")))
        }
    }

    /// Layer widths, each at least 1 and at most [`MAX_WIDTH`] (a file
    /// asking for a 10¹²-wide layer is refused before any weight is made).
    pub fn widths(&self, field: &str, w: &[usize]) -> Result<()> {
        if w.contains(&0) {
            Err(self.fail(field, format!("widths must be positive, got {w:?}")))
        } else if let Some(big) = w.iter().find(|&&v| v > MAX_WIDTH) {
            Err(self.fail(
                field,
                format!("widths must be at most {MAX_WIDTH}, got {big}"),
            ))
        } else {
            Ok(())
        }
    }

    /// The training loop's limits: `max_nonfinite` ≥ 1, `patience` ≥ 1 if set.
    pub fn loop_limits(&self, max_nonfinite: u64, patience: Option<u64>) -> Result<()> {
        if max_nonfinite == 0 {
            return Err(self.fail("max_nonfinite", "must be at least 1"));
        }
        if patience == Some(0) {
            return Err(self.fail("patience", "must be at least 1 (or left out)"));
        }
        Ok(())
    }
}

/// The widest layer a configuration may ask for (2¹⁶ units: a square
/// layer of it is 2³² weights, 16 GB, already beyond this machine).
pub const MAX_WIDTH: usize = 1 << 16;

/// A comma-separated list on the command line (`--hidden 64,64`,
/// `--x-cols a,b`), a sequence in JSON and YAML.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct List<T>(pub Vec<T>);

impl<T: std::fmt::Display> std::fmt::Display for List<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl<T: std::str::FromStr> std::str::FromStr for List<T>
where
    T::Err: std::fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(List(Vec::new()));
        }
        s.split(',')
            .map(|p| {
                p.trim()
                    .parse::<T>()
                    .map_err(|e| format!("'{}' in '{s}': {e}", p.trim()))
            })
            .collect::<std::result::Result<Vec<T>, String>>()
            .map(List)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use serde::Deserialize;

    #[derive(Parser, Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[command(allow_negative_numbers = true)]
    #[serde(deny_unknown_fields, default)]
    struct Demo {
        /// A rate.
        #[arg(long, default_value_t = Demo::default().lr)]
        lr: f64,
        /// Steps.
        #[arg(long, default_value_t = Demo::default().steps)]
        steps: usize,
        /// Widths.
        #[arg(long, default_value_t = Demo::default().hidden)]
        hidden: List<usize>,
    }

    impl Default for Demo {
        fn default() -> Self {
            Demo {
                lr: 1e-3,
                steps: 1000,
                hidden: List(vec![64, 64]),
            }
        }
    }

    fn matches(args: &[&str]) -> ArgMatches {
        Demo::command().get_matches_from(std::iter::once("demo").chain(args.iter().copied()))
    }

    fn preset(d: &mut Demo) {
        d.steps = 10;
        d.lr = 0.5;
    }

    fn yaml(text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "ferrograd-config-{}-{}.yaml",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn sources_override_in_order_and_test_never_beats_a_flag() {
        let d: Demo = resolve(&matches(&[]), None, None).unwrap();
        assert_eq!(d, Demo::default());
        let d: Demo = resolve(&matches(&[]), None, Some(preset)).unwrap();
        assert_eq!((d.steps, d.lr), (10, 0.5));
        let d: Demo = resolve(&matches(&["--steps", "70"]), None, Some(preset)).unwrap();
        assert_eq!((d.steps, d.lr), (70, 0.5));
        let file = yaml("lr: 0.25\nhidden: [8, 4]\n");
        let d: Demo = resolve(&matches(&["--lr", "-0.001"]), Some(&file), Some(preset)).unwrap();
        assert_eq!(
            (d.steps, d.lr, d.hidden.0.clone()),
            (10, -0.001, vec![8, 4])
        );
        std::fs::remove_file(file).unwrap();
    }

    /// A YAML file that claims 10¹² elements: an alias bomb (nine levels
    /// of ten aliases each), a 10¹²-wide layer, a width past u64. Each is a
    /// typed error naming the file or field, before anything is built.
    #[test]
    fn yaml_claiming_1e12_elements_is_refused_before_allocating() {
        let start = std::time::Instant::now();
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let path = Path::new("bomb.yaml");
        match parse_yaml(&bomb, path) {
            Err(Error::Format { path: p, problem }) => {
                assert_eq!(p, path);
                assert!(problem.starts_with("not valid YAML"), "{problem}");
            }
            other => panic!("expected a format error, got {other:?}"),
        }
        let file = yaml("hidden: [64, 1000000000000]\n");
        let d: Demo = resolve(&matches(&[]), Some(&file), None).unwrap();
        let e = Checks("demo")
            .widths("hidden", &d.hidden.0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--hidden") && e.contains("at most 65536, got 1000000000000"),
            "{e}"
        );
        std::fs::remove_file(file).unwrap();
        let file = yaml("hidden: [18446744073709551616]\n");
        let e = resolve::<Demo>(&matches(&[]), Some(&file), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(".yaml") && e.contains("hidden"), "{e}");
        std::fs::remove_file(file).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }

    #[test]
    fn yaml_errors_name_the_file_and_key() {
        let file = yaml("lr: 0.25\nlearning_rate: 3\n");
        let e = resolve::<Demo>(&matches(&[]), Some(&file), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(".yaml") && e.contains("unknown key 'learning_rate'") && e.contains("lr"),
            "{e}"
        );
        std::fs::remove_file(file).unwrap();
        let file = yaml("steps: many\n");
        let e = resolve::<Demo>(&matches(&[]), Some(&file), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key 'steps'"), "{e}");
        std::fs::remove_file(file).unwrap();
        let file = yaml("- 1\n- 2\n");
        assert!(resolve::<Demo>(&matches(&[]), Some(&file), None).is_err());
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn resume_allows_only_the_length_to_change() {
        let saved = Demo {
            steps: 100,
            ..Demo::default()
        };
        let d = resume_config(&matches(&["--steps", "200"]), &saved, &["steps"]).unwrap();
        assert_eq!(d.steps, 200);
        let d = resume_config(&matches(&["--lr", "0.001"]), &saved, &["steps"]).unwrap();
        assert_eq!(d, saved);
        let e = resume_config(&matches(&["--lr", "0.1"]), &saved, &["steps"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--lr cannot change") && e.contains("--steps"),
            "{e}"
        );
    }

    #[test]
    fn lists_parse_and_print() {
        let l: List<usize> = "64, 32".parse().unwrap();
        assert_eq!(l.0, [64, 32]);
        assert_eq!(l.to_string(), "64,32");
        assert!("a,b".parse::<List<usize>>().is_err());
        let names: List<String> = "x1,x2".parse().unwrap();
        assert_eq!(names.0, ["x1", "x2"]);
    }
}
