//! Hostile inputs to every model's public API: NaN features, infinities,
//! empty batches, a batch of one, huge values (1e30) and a feature far
//! outside the training range. Each must give an error or a finite result,
//! never a panic. Run with `--nocapture` to print the table
//! (API | input | outcome).

use ferrograd_autograd::Var;
use ferrograd_models::cde::maf::MafConfig;
use ferrograd_models::cde::mdn::MdnConfig;
use ferrograd_models::cde::{CdeModel, ModelSpec};
use ferrograd_models::decision::clip::model::{DualEncoder, DualEncoderConfig};
use ferrograd_models::decision::clip::vocab::Vocab;
use ferrograd_models::decision::intent::model::IntentTransformer;
use ferrograd_models::decision::intent::predict::parse_texts;
use ferrograd_models::decision::intent::tokenizer::Tokenizer;
use ferrograd_models::decision::policy::model::PolicyNet;
use ferrograd_models::decision::TokenClassifierConfig;
use ferrograd_models::flow::matching::{self, Solver};
use ferrograd_models::flow::model::{FlowConfig, FlowModel};
use ferrograd_models::maml::sinusoid::{learner, SinusoidConfig};
use ferrograd_models::maml::{Examples, TaskBatch};
use ferrograd_models::regress::{NetSpec, RegressionNet};
use ferrograd_models::world::dream::{plan, DreamEnv, PlanConfig};
use ferrograd_models::world::vae::{ConvVae, VaeConfig};
use ferrograd_models::world::{MdnRnn, MdnRnnConfig};
use ferrograd_nn::{Activation, Normalizer};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The hostile rows of a float input: a name and a value for every element.
/// Each case is applied to `rows` rows of width `w` (the empty batch has 0
/// rows, the batch of one 1 row).
#[derive(Clone, Copy)]
enum Case {
    Nan,
    Inf,
    Empty,
    One,
    Huge,
    Outside,
}

const CASES: [Case; 6] = [
    Case::Nan,
    Case::Inf,
    Case::Empty,
    Case::One,
    Case::Huge,
    Case::Outside,
];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Nan => "NaN",
            Case::Inf => "+inf",
            Case::Empty => "empty batch",
            Case::One => "batch of one",
            Case::Huge => "1e30",
            Case::Outside => "outside range (50)",
        }
    }

    /// `(rows, values)` of a batch of `rows` rows of width `w` (one
    /// hostile value in the second row's first column, or everywhere).
    fn batch(self, rows: usize, w: usize) -> (usize, Vec<f32>) {
        let mut v: Vec<f32> = (0..rows * w).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let at = w.min(v.len().saturating_sub(1));
        match self {
            Case::Nan => v[at] = f32::NAN,
            Case::Inf => v[at] = f32::INFINITY,
            Case::Empty => return (0, Vec::new()),
            Case::One => return (1, v[..w].to_vec()),
            Case::Huge => v.iter_mut().for_each(|x| *x = 1e30),
            Case::Outside => v[at] = 50.0,
        }
        (rows, v)
    }

    fn tensor(self, rows: usize, tail: &[usize]) -> Tensor {
        let w: usize = tail.iter().product();
        let (n, v) = self.batch(rows, w);
        let mut dims = vec![n];
        dims.extend_from_slice(tail);
        Tensor::from_vec(v, &dims).unwrap()
    }
}

/// Runs `f`, returning its outcome and whether it is acceptable (an error
/// or a finite result, not a panic).
fn outcome<T, E: Display>(
    f: impl FnOnce() -> Result<T, E>,
    finite: impl Fn(&T) -> bool,
) -> (String, bool) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (format!("PANIC: {msg}"), false)
        }
        Ok(Err(e)) => (format!("error: {e}"), true),
        Ok(Ok(v)) if finite(&v) => ("finite result".into(), true),
        Ok(Ok(_)) => ("NON-FINITE result".into(), false),
    }
}

fn all_finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Prints the rows and fails on any panic or non-finite result.
fn check(rows: Vec<(String, String, (String, bool))>) {
    let mut bad = Vec::new();
    for (api, input, (out, ok)) in &rows {
        let short: String = out.chars().take(150).collect();
        println!("| {api} | {input} | {short} |");
        if !ok {
            bad.push(format!("{api} / {input}: {out}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn cde(spec: ModelSpec, api: &str) -> Vec<(String, String, (String, bool))> {
    let m = CdeModel::new(&spec, 0, &Normalizer::identity(2), &Normalizer::identity(1)).unwrap();
    let mut rows = Vec::new();
    for c in CASES {
        let x = c.tensor(3, &[2]);
        let f = Tensor::from_vec(vec![0.1; x.dims()[0]], &[x.dims()[0], 1]).unwrap();
        rows.push((
            format!("{api} log_prob_values"),
            format!("x {}", c.name()),
            outcome(|| m.log_prob_values(&x, &f), |v| all_finite(v)),
        ));
        let x = Case::One.tensor(3, &[2]).narrow(0, 0, 1).unwrap();
        let x = x
            .broadcast_to(&ferrograd_tensor::Shape::new(&[3, 2]).unwrap())
            .unwrap();
        let f = c.tensor(3, &[1]);
        if f.dims()[0] == 3 {
            rows.push((
                format!("{api} log_prob_values"),
                format!("feature {}", c.name()),
                outcome(|| m.log_prob_values(&x, &f), |v| all_finite(v)),
            ));
        }
        let (n, f) = c.batch(1, 1);
        let (f, count) = if n == 0 { (vec![], 4) } else { (f, 4) };
        rows.push((
            format!("{api} sample_at_features"),
            format!("feature {}", c.name()),
            outcome(
                || m.sample_at_features(&f, count, 1),
                |t| all_finite(t.data()),
            ),
        ));
    }
    rows.push((
        format!("{api} log_prob_values"),
        "rank-0 x".into(),
        outcome(
            || m.log_prob_values(&Tensor::scalar(1.0), &Tensor::scalar(1.0)),
            |v| all_finite(v),
        ),
    ));
    rows.push((
        format!("{api} sample_at_features"),
        "n = 0".into(),
        outcome(
            || m.sample_at_features(&[0.1], 0, 1),
            |t| all_finite(t.data()),
        ),
    ));
    rows
}

#[test]
fn cde_mdn() {
    check(cde(
        ModelSpec::Mdn(MdnConfig {
            hidden: vec![8],
            ..MdnConfig::default()
        }),
        "cde MDN",
    ));
}

#[test]
fn cde_maf() {
    check(cde(
        ModelSpec::Maf(MafConfig {
            dim: 2,
            features: 1,
            flows: 2,
            hidden: vec![8],
            ..MafConfig::default()
        }),
        "cde MAF",
    ));
}

#[test]
fn maml_evaluate() {
    let cfg = SinusoidConfig::default();
    let m = learner(&cfg).unwrap();
    let mut rows = Vec::new();
    for c in CASES {
        let x = c.tensor(5, &[1]);
        let y = Tensor::zeros(x.dims()).unwrap();
        let ok_x = Case::One.tensor(5, &[1]);
        let ok_y = Tensor::zeros(ok_x.dims()).unwrap();
        let task = TaskBatch {
            support: Examples {
                x: x.clone(),
                y: y.clone(),
            },
            query: Examples { x: ok_x, y: ok_y },
        };
        rows.push((
            "maml evaluate".to_string(),
            format!("support x {}", c.name()),
            outcome(
                || m.evaluate(std::slice::from_ref(&task), 2),
                |v| v.iter().all(|r| all_finite(r)),
            ),
        ));
    }
    rows.push((
        "maml evaluate".into(),
        "no tasks".into(),
        outcome(|| m.evaluate(&[], 2), |v| v.iter().all(|r| all_finite(r))),
    ));
    check(rows);
}

#[test]
fn flow_sample_and_encode() {
    let cfg = FlowConfig {
        encoder_hidden: vec![8],
        code: 4,
        time_embedding: 4,
        velocity_width: 8,
        velocity_blocks: 1,
        ..FlowConfig::default()
    };
    let m = FlowModel::new(cfg, 0).unwrap();
    let mut rows = Vec::new();
    for c in CASES {
        let code = c.tensor(2, &[4]);
        rows.push((
            "flow sample".to_string(),
            format!("code {}", c.name()),
            outcome(
                || matching::sample(&m, &code, 8, 2, Solver::Euler, 0),
                |t| all_finite(t.data()),
            ),
        ));
        let clouds = c.tensor(2, &[6, 2]);
        rows.push((
            "flow encode_codes".to_string(),
            format!("cloud {}", c.name()),
            outcome(
                || matching::encode_codes(&m, &clouds),
                |t| all_finite(t.data()),
            ),
        ));
    }
    rows.push((
        "flow encode_codes".into(),
        "cloud of 0 points".into(),
        outcome(
            || matching::encode_codes(&m, &Tensor::zeros(&[2, 0, 2]).unwrap()),
            |t| all_finite(t.data()),
        ),
    ));
    check(rows);
}

#[test]
fn regress_predict() {
    let spec = NetSpec {
        inputs: 2,
        outputs: 1,
        layers: vec![8, 4],
        residual: true,
        activation: Activation::Gelu,
    };
    let xn = Normalizer::new(vec![1.0, -2.0], vec![2.0, 0.5]).unwrap();
    let yn = Normalizer::new(vec![3.0], vec![4.0]).unwrap();
    let net = RegressionNet::new(&spec, 1, &xn, &yn).unwrap();
    let mut rows = Vec::new();
    for c in CASES {
        let x = c.tensor(3, &[2]);
        rows.push((
            "regress predict".to_string(),
            format!("x {}", c.name()),
            outcome(|| net.predict(&x), |t| all_finite(t.data())),
        ));
    }
    rows.push((
        "regress predict".into(),
        "rank-0 x".into(),
        outcome(
            || net.predict(&Tensor::scalar(1.0)),
            |t| all_finite(t.data()),
        ),
    ));
    check(rows);
}

#[test]
fn policy_predict() {
    let net = PolicyNet::new(&[4, 8, 9], 0).unwrap();
    let mut rows = Vec::new();
    for c in CASES {
        let (_, obs) = c.batch(3, 4);
        rows.push((
            "policy predict".to_string(),
            format!("obs {}", c.name()),
            outcome(|| net.predict(&obs), |v| v.iter().all(|&a| a < 9)),
        ));
    }
    check(rows);
}

#[test]
fn intent_parse() {
    let tok = Tokenizer::learn(
        ["bring me the water", "stop now", "open the door"],
        1,
        64,
        3,
        4,
    )
    .unwrap();
    let cfg = TokenClassifierConfig {
        vocab: tok.units(),
        seq_len: 8,
        d_model: 16,
        heads: 2,
        layers: 1,
        ff_dim: 32,
        classes: ferrograd_models::decision::intent::labels::INTENTS.len(),
        ..TokenClassifierConfig::default()
    };
    let model = IntentTransformer::new(&cfg, 1).unwrap();
    let long = "water ".repeat(10_000);
    let cases: [(&str, Vec<&str>); 6] = [
        ("no texts (empty batch)", vec![]),
        ("one empty text", vec![""]),
        ("batch of one", vec!["stop now"]),
        ("only spaces and punctuation", vec!["   ?!  "]),
        ("60 000 characters", vec![long.as_str()]),
        ("unknown words, emoji, NUL", vec!["zzqx 🦀 \u{0}\u{7f} ÿ"]),
    ];
    let mut rows = Vec::new();
    for (name, texts) in cases {
        rows.push((
            "intent parse_texts".to_string(),
            name.to_string(),
            outcome(
                || parse_texts(&model, &tok, &texts),
                |v| v.len() == texts.len() && v.iter().all(|p| p.probability.is_finite()),
            ),
        ));
    }
    check(rows);
}

#[test]
fn clip_loss_and_image_encoder() {
    let cfg = DualEncoderConfig {
        image_side: 16,
        channels: vec![4, 8],
        image_hidden: 16,
        vocab: 5,
        max_tokens: 6,
        d_model: 8,
        heads: 2,
        layers: 1,
        ff_dim: 16,
        embed: 8,
        temperature: 0.07,
    };
    let vocab = Vocab::build(["red square", "blue circle"]);
    let cfg = DualEncoderConfig {
        vocab: vocab.len(),
        ..cfg
    };
    let m = DualEncoder::new(&cfg, 0).unwrap();
    let mut rows = Vec::new();
    for c in CASES {
        let images = c.tensor(2, &[3, 16, 16]);
        let n = images.dims()[0];
        let texts: Vec<&str> = ["red square", "blue circle"]
            .into_iter()
            .cycle()
            .take(n)
            .collect();
        let text = vocab.encode(&texts, 6);
        rows.push((
            "clip image forward".to_string(),
            format!("images {}", c.name()),
            outcome(
                || m.image.forward(&Var::constant(images.clone())),
                |v| all_finite(v.value().data()),
            ),
        ));
        rows.push((
            "clip loss".to_string(),
            format!("images {}", c.name()),
            outcome(
                || {
                    let t = text.as_ref().map_err(|e| e.to_string())?;
                    m.loss(&Var::constant(images.clone()), t)
                        .map_err(|e| e.to_string())
                },
                |v| all_finite(v.value().data()),
            ),
        ));
    }
    rows.push((
        "clip image forward".into(),
        "rank-0 images".into(),
        outcome(
            || m.image.forward(&Var::scalar(1.0)),
            |v| all_finite(v.value().data()),
        ),
    ));
    check(rows);
}

#[test]
fn world_vae_rnn_dream_planner() {
    let vae = ConvVae::new(
        VaeConfig {
            z_dim: 4,
            ..VaeConfig::default()
        },
        0,
    )
    .unwrap();
    let rnn = MdnRnn::new(
        &MdnRnnConfig {
            z_dim: 4,
            hidden: 8,
            components: 2,
            ..MdnRnnConfig::default()
        },
        0,
    )
    .unwrap();
    let a = rnn.config().action_dim;
    let mut rows = Vec::new();
    for c in CASES {
        let frames = c.tensor(2, &[3, 64, 64]);
        rows.push((
            "world VAE encode".to_string(),
            format!("frames {}", c.name()),
            outcome(
                || vae.encode(&Var::constant(frames.clone())),
                |e| all_finite(e.mu.value().data()) && all_finite(e.logvar.value().data()),
            ),
        ));
        let z = c.tensor(2, &[4]);
        rows.push((
            "world VAE decode".to_string(),
            format!("z {}", c.name()),
            outcome(
                || vae.decode(&Var::constant(z.clone())),
                |v| all_finite(v.value().data()),
            ),
        ));
        let za = c.tensor(2, &[3, 4 + a]);
        rows.push((
            "world MDN-RNN forward_heads".to_string(),
            format!("[z, a] {}", c.name()),
            outcome(
                || rnn.forward_heads(&Var::constant(za.clone())),
                |o| all_finite(o.means.value().data()) && all_finite(o.reward.value().data()),
            ),
        ));
        let (_, z1) = c.batch(1, 4);
        rows.push((
            "world DreamEnv reset+step".to_string(),
            format!("latent {}", c.name()),
            outcome(
                || {
                    let mut d = DreamEnv::new(&rnn, Some(&vae), 1.0);
                    d.reset_latent(&z1, 0)?;
                    let (z, r, _) = d.step(1)?;
                    let frame = d.render()?;
                    Ok::<_, ferrograd_nn::Error>((z, r, frame.len()))
                },
                |(z, r, _)| all_finite(z) && r.is_finite(),
            ),
        ));
        rows.push((
            "world plan (CEM)".to_string(),
            format!("latent {}", c.name()),
            outcome(
                || {
                    let cfg = PlanConfig {
                        horizon: 3,
                        candidates: 8,
                        iterations: 2,
                        ..PlanConfig::default()
                    };
                    plan(&rnn, &z1, None, &cfg, &mut StdRng::seed_from_u64(0))
                },
                |&a| a < 3,
            ),
        ));
    }
    check(rows);
}

#[test]
fn esp_runtime_models() {
    use ferrograd_esp::Model;
    let mdn = ferrograd_models::cde::mdn::Mdn::new(
        MdnConfig {
            hidden: vec![8],
            ..MdnConfig::default()
        },
        0,
    )
    .unwrap();
    let maf = ferrograd_models::cde::maf::Maf::new(
        MafConfig {
            dim: 2,
            features: 1,
            flows: 2,
            hidden: vec![8],
            ..MafConfig::default()
        },
        0,
    )
    .unwrap();
    let spec = NetSpec {
        inputs: 2,
        outputs: 1,
        layers: vec![8],
        residual: false,
        activation: Activation::Gelu,
    };
    let net =
        RegressionNet::new(&spec, 1, &Normalizer::identity(2), &Normalizer::identity(1)).unwrap();
    let blobs = [
        ("esp MDN", ferrograd_models::export::mdn_blob(&mdn).unwrap()),
        ("esp MAF", ferrograd_models::export::maf_blob(&maf).unwrap()),
        (
            "esp MLP",
            ferrograd_models::export::regress_blob(&net).unwrap().1,
        ),
    ];
    let mut rows = Vec::new();
    for (name, blob) in &blobs {
        let model = Model::from_bytes(blob).unwrap();
        let mut scratch = model.new_scratch();
        for c in CASES {
            let (n, x) = c.batch(1, 2);
            if name.contains("MLP") {
                let mut out = vec![0.0; 1];
                rows.push((
                    format!("{name} forward"),
                    format!("x {}", c.name()),
                    outcome(
                        || model.forward(&x, &mut out, &mut scratch).map(|_| out[0]),
                        |v| v.is_finite(),
                    ),
                ));
                continue;
            }
            rows.push((
                format!("{name} log_prob"),
                format!("x {}", c.name()),
                outcome(
                    || model.log_prob(&x, &[0.1], &mut scratch),
                    |v| v.is_finite(),
                ),
            ));
            let (_, f) = c.batch(1, 1);
            rows.push((
                format!("{name} log_prob_rows"),
                format!("feature {}", c.name()),
                outcome(
                    || model.log_prob_rows(&vec![0.1; 2 * n.max(f.len())], &f),
                    |v| all_finite(v),
                ),
            ));
            rows.push((
                format!("{name} sample_vec"),
                format!("feature {}", c.name()),
                outcome(|| model.sample_vec(&f, 3, 1), |v| all_finite(v)),
            ));
        }
    }
    check(rows);
}
