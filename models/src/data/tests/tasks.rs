use super::{message, TempDir};
use crate::data::{TaskFolder, UserTask};
use ferrograd_nn::Error;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A task file of `n` rows with y = 10·a + b, so every row is recognisable.
fn task_csv(n: usize) -> String {
    let mut text = String::from("a,b,y\n");
    for i in 0..n {
        text += &format!("{i},{},{}\n", i % 3, 10 * i + i % 3);
    }
    text
}

#[test]
fn folder_reads_each_csv_file_as_a_task_in_name_order() {
    let dir = TempDir::new("tasks");
    dir.write("b.csv", task_csv(4));
    dir.write("a.csv", task_csv(6));
    dir.write("notes.txt", "not a task");
    std::fs::create_dir(dir.path().join("sub.csv")).unwrap();
    let tasks = TaskFolder::read(dir.path(), &["b".to_string(), "a".to_string()], "y", 3).unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(tasks[0].x.dims(), &[6, 2]);
    assert_eq!(tasks[0].y.dims(), &[6, 1]);
    assert_eq!(&tasks[0].x.data()[..4], &[0.0, 0.0, 1.0, 1.0]);
    assert_eq!(tasks[1].rows(), 4);
    assert_eq!(tasks[1].examples().y.data(), &[0.0, 11.0, 22.0, 30.0]);
}

#[test]
fn empty_or_missing_folder_is_an_error() {
    let dir = TempDir::new("tasks-empty");
    dir.write("readme.md", "no tasks here");
    let m = message(TaskFolder::read(dir.path(), &["a"], "y", 1));
    assert!(
        m.contains("tasks-empty") && m.contains("no *.csv task files"),
        "{m}"
    );
    let missing = dir.path().join("absent");
    let err = TaskFolder::read(&missing, &["a"], "y", 1).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &missing),
        "{err:?}"
    );
}

#[test]
fn file_missing_a_column_is_named_with_the_column() {
    let dir = TempDir::new("tasks-column");
    dir.write("a.csv", task_csv(5));
    dir.write("b.csv", "a,y\n1,2\n3,4\n5,6\n");
    let m = message(TaskFolder::read(dir.path(), &["a", "b"], "y", 1));
    assert!(m.contains("b.csv") && m.contains("no column \"b\""), "{m}");
    let m = message(TaskFolder::read(dir.path(), &["a"], "target", 1));
    assert!(
        m.contains("a.csv") && m.contains("no column \"target\""),
        "{m}"
    );
    let bad_cell = TempDir::new("tasks-cell");
    bad_cell.write("t.csv", "a,y\n1,2\n3,?\n");
    let m = message(TaskFolder::read(bad_cell.path(), &["a"], "y", 1));
    assert!(
        m.contains("t.csv") && m.contains("line 3, column \"y\""),
        "{m}"
    );
}

#[test]
fn task_with_too_few_rows_names_file_count_and_minimum() {
    let dir = TempDir::new("tasks-min");
    dir.write("big.csv", task_csv(20));
    dir.write("small.csv", task_csv(7));
    let m = message(TaskFolder::read(dir.path(), &["a"], "y", 10));
    assert!(
        m.contains("small.csv") && m.contains("7 rows") && m.contains("minimum of 10"),
        "{m}"
    );
    assert_eq!(
        TaskFolder::read(dir.path(), &["a"], "y", 7).unwrap().len(),
        2
    );
}

#[test]
fn bad_column_choices_are_config_errors() {
    let dir = TempDir::new("tasks-config");
    dir.write("a.csv", task_csv(3));
    let none: [&str; 0] = [];
    assert!(matches!(
        TaskFolder::read(dir.path(), &none, "y", 1),
        Err(Error::Config(_))
    ));
    let m = message(TaskFolder::read(dir.path(), &["a", "y"], "y", 1));
    assert!(m.contains("\"y\" is both an input and the target"), "{m}");
}

fn one_task(n: usize) -> UserTask {
    let dir = TempDir::new(&format!("tasks-sample-{n}"));
    dir.write("t.csv", task_csv(n));
    TaskFolder::read(dir.path(), &["a", "b"], "y", 1)
        .unwrap()
        .remove(0)
}

#[test]
fn sample_draws_disjoint_rows_without_replacement() {
    let task = one_task(12);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..20 {
        let batch = task.sample(5, 7, &mut rng).unwrap();
        assert_eq!(batch.support.x.dims(), &[5, 2]);
        assert_eq!(batch.query.y.dims(), &[7, 1]);
        let mut seen: Vec<usize> = Vec::new();
        for part in [&batch.support, &batch.query] {
            for (x, y) in part.x.data().chunks(2).zip(part.y.data()) {
                // Inputs and target come from the same file row.
                assert_eq!(*y, 10.0 * x[0] + x[1]);
                seen.push(x[0] as usize);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
    }
    let a = task.sample(2, 3, &mut StdRng::seed_from_u64(9)).unwrap();
    let b = task.sample(2, 3, &mut StdRng::seed_from_u64(9)).unwrap();
    assert_eq!(a.query.x.data(), b.query.x.data());
}

#[test]
fn sample_refuses_more_examples_than_rows() {
    let task = one_task(6);
    let mut rng = StdRng::seed_from_u64(0);
    let m = message(task.sample(4, 3, &mut rng));
    assert!(
        m.contains("t.csv") && m.contains("need 7 rows, the task has 6"),
        "{m}"
    );
    assert!(message(task.sample(0, 3, &mut rng)).contains("0 shots"));
    assert!(message(task.sample(3, 0, &mut rng)).contains("0 queries"));
}
