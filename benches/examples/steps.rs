//! Times anchor workloads at a chosen thread count, the way the anchors'
//! scripts do (5 warm-up steps, then single steps timed until at least 10
//! steps and 3 s; median and minimum), so a run at `--threads 1` and one at
//! `--threads 2` compare directly with `torch_anchors.py --threads N`.
//!
//! ```sh
//! cargo run --release -p ferrograd-benches --example steps -- --threads 2 flowmatch_step gradpen_step
//! ```
//!
//! With no names, every workload runs. `--quick` times about 0.5 s per row.
//! Each row also gives the CPU time per step of all threads together (from
//! `/proc/self/stat`, 10 ms ticks): on a busy machine, the steadier figure
//! for comparing two builds at one thread.

use ferrograd_benches::anchors::{
    AnchorError, ConvvaeStep, FlowmatchStep, GradpenStep, MafStep, MamlFoStep, MamlStep,
    MdnRnnPerdimStep, MdnRnnStep, MdnStep, TransformerStep, Workload,
};
use std::time::Instant;

const NAMES: [&str; 10] = [
    "maml_step",
    "maml_fo_step",
    "gradpen_step",
    "transformer_step",
    "mdnrnn_step",
    "mdnrnn_perdim_step",
    "maf_step",
    "mdn_step",
    "flowmatch_step",
    "convvae_step",
];

/// CPU time this process (all its threads) has used, in ms, from
/// `/proc/self/stat` (10 ms ticks; `None` off Linux).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: utime and stime are the
    // 12th and 13th of them.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0)
}

/// What one row measured: median and minimum wall milliseconds per step,
/// the steps timed, and the CPU milliseconds per step (all threads).
struct Timing {
    median: f64,
    min: f64,
    steps: usize,
    cpu: Option<f64>,
}

/// Times `W` as the module docs say.
fn time<W: Workload>(quick: bool) -> Result<Timing, AnchorError> {
    let (min_time, min_iters, warmup) = if quick { (0.5, 5, 2) } else { (3.0, 10, 5) };
    let mut w = W::from_committed_dump()?;
    for _ in 0..warmup {
        w.step()?;
    }
    let mut times = Vec::new();
    let cpu0 = cpu_ms();
    let start = Instant::now();
    while times.len() < min_iters || start.elapsed().as_secs_f64() < min_time {
        let t0 = Instant::now();
        std::hint::black_box(w.step()?);
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = cpu0
        .zip(cpu_ms())
        .map(|(a, b)| (b - a) / times.len() as f64);
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    };
    Ok(Timing {
        median,
        min: times[0],
        steps: n,
        cpu,
    })
}

fn run(name: &str, quick: bool) -> Result<Timing, AnchorError> {
    match name {
        "maml_step" => time::<MamlStep>(quick),
        "maml_fo_step" => time::<MamlFoStep>(quick),
        "gradpen_step" => time::<GradpenStep>(quick),
        "transformer_step" => time::<TransformerStep>(quick),
        "mdnrnn_step" => time::<MdnRnnStep>(quick),
        "mdnrnn_perdim_step" => time::<MdnRnnPerdimStep>(quick),
        "maf_step" => time::<MafStep>(quick),
        "mdn_step" => time::<MdnStep>(quick),
        "flowmatch_step" => time::<FlowmatchStep>(quick),
        _ => time::<ConvvaeStep>(quick),
    }
}

fn main() {
    let mut threads = 1usize;
    let (mut quick, mut names) = (false, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n >= 1 => threads = n,
                _ => fail("--threads needs a whole number of at least 1"),
            },
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!(
                    "usage: steps [--threads N] [--quick] [WORKLOAD...]\nworkloads: {}",
                    NAMES.join(", ")
                );
                return;
            }
            n if NAMES.contains(&n) => names.push(n.to_string()),
            other => fail(&format!(
                "unknown workload '{other}'; choose from {}",
                NAMES.join(", ")
            )),
        }
    }
    if names.is_empty() {
        names = NAMES.iter().map(|n| n.to_string()).collect();
    }
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        fail(&format!("cannot start {threads} threads: {e}"));
    }
    for name in &names {
        // The step runs on a worker of the pool, as the `ferrograd` program
        // runs training: a kernel that splits its work then keeps a share
        // on the calling worker instead of waking the pool from outside and
        // sleeping until it is done.
        match rayon::scope(|_| run(name, quick)) {
            Ok(t) => println!(
                "{name:20} threads {threads}  median {:10.4} ms  min {:10.4} ms  n={}  cpu {}",
                t.median,
                t.min,
                t.steps,
                t.cpu.map_or("?".into(), |c| format!("{c:.1} ms/step")),
            ),
            Err(e) => fail(&format!("{name}: {e}")),
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("steps: {msg}");
    std::process::exit(2)
}
