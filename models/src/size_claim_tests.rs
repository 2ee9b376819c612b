//! Checkpoints of every family whose recorded configuration is rewritten to
//! claim a model far larger than the file holds (hidden widths of 2⁴⁰ and
//! the like) are refused by [`crate::run::check_claimed_size`] before the
//! model is built: building it first would allocate terabytes, so without
//! the check these tests die of an allocation failure instead of passing.
//! Each starts from a valid checkpoint that loads, so the rewritten field
//! is what the loader refuses.

use crate::run::family_metadata;
use ferrograd_nn::checkpoint::{Checkpoint, META_CONFIG};
use ferrograd_nn::{Normalizer, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

const HUGE: usize = 1 << 40;

/// One rewritten checkpoint: what it claims, the metadata replaced, and the
/// count the loader must report (`None`: it overflows `usize`).
struct Claim {
    what: &'static str,
    metadata: Vec<(&'static str, String)>,
    expected: Option<usize>,
}

/// A claim that rewrites the run configuration to `cfg`.
fn config_claim<C: Serialize>(what: &'static str, cfg: &C, expected: Option<usize>) -> Claim {
    Claim {
        what,
        metadata: vec![(META_CONFIG, serde_json::to_string(cfg).unwrap())],
        expected,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ferrograd-size-claims-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves `ckpt` and checks `load` accepts it, then saves each claim's
/// rewrite of it and checks `load` refuses it with a message naming the
/// file and the claimed count; returns the messages.
fn assert_refused<T>(
    name: &str,
    ckpt: Checkpoint,
    load: impl Fn(&Path) -> Result<T>,
    claims: Vec<Claim>,
) -> Vec<String> {
    let dir = scratch(name);
    let valid = dir.join("valid.safetensors");
    ckpt.save(&valid).unwrap();
    if let Err(e) = load(&valid) {
        panic!("{name}: the valid checkpoint does not load: {e}");
    }
    let held: usize = ckpt.tensors.values().map(|t| t.numel()).sum();
    let mut messages = Vec::new();
    for claim in claims {
        // Huge: building it would need far more memory than any machine.
        assert!(
            claim.expected.is_none_or(|n| n > held && n >= 1 << 32),
            "{name} {}: a claim of {:?} values is not huge",
            claim.what,
            claim.expected
        );
        let mut huge = ckpt.clone();
        for (key, json) in &claim.metadata {
            huge.metadata.insert(key.to_string(), json.clone());
        }
        let path = dir.join("huge.safetensors");
        huge.save(&path).unwrap();
        let e = match load(&path) {
            Ok(_) => panic!("{name}: a checkpoint claiming {} loaded", claim.what),
            Err(e) => e.to_string(),
        };
        let count = claim
            .expected
            .map_or("more than 2^64".to_string(), |n| format!("at least {n}"));
        let want = format!(
            "the model description claims {count} weights and biases, but the file \
             holds only {held} values"
        );
        assert!(
            e.contains(&path.display().to_string()) && e.contains(&want),
            "{name} {}: {e}",
            claim.what
        );
        println!("{name}, {}: {e}", claim.what);
        messages.push(e);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    messages
}

#[test]
fn flow_checkpoints_claiming_huge_models_are_refused() {
    use crate::flow::{model::FlowModel, train, FlowRunConfig};
    let mut cfg = FlowRunConfig::default();
    FlowRunConfig::test_preset(&mut cfg);
    let model = FlowModel::new(cfg.model(), 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&model);
    ckpt.metadata = train::metadata(&cfg).unwrap();
    let wide = FlowRunConfig {
        velocity_width: HUGE,
        ..cfg.clone()
    };
    let deep = FlowRunConfig {
        velocity_blocks: HUGE,
        ..cfg.clone()
    };
    let code = FlowRunConfig {
        code: HUGE,
        ..cfg.clone()
    };
    for c in [&wide, &deep, &code] {
        c.validate().unwrap();
    }
    let claims = vec![
        config_claim("velocity_width 2^40", &wide, None),
        config_claim(
            "velocity_blocks 2^40",
            &deep,
            deep.model().min_value_count(),
        ),
        config_claim("code 2^40", &code, code.model().min_value_count()),
    ];
    assert_refused("flow", ckpt, |p| train::load(p), claims);
}

#[test]
fn world_checkpoints_claiming_huge_models_are_refused() {
    use crate::world::config::WorldConfig;
    use crate::world::train::{load_rnn, load_vae, RNN_FAMILY, VAE_FAMILY};
    use crate::world::{vae::ConvVae, MdnRnn};
    let mut cfg = WorldConfig::default();
    WorldConfig::test_preset(&mut cfg);
    let with = |f: &dyn Fn(&mut WorldConfig)| {
        let mut c = cfg.clone();
        f(&mut c);
        c
    };
    let vae = ConvVae::new(cfg.vae(), 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&vae);
    ckpt.metadata = family_metadata(VAE_FAMILY, &cfg).unwrap().metadata;
    let latent = with(&|c| c.z_dim = HUGE);
    let claims = vec![config_claim(
        "a VAE latent of 2^40",
        &latent,
        latent.vae().value_count(),
    )];
    assert_refused("world-vae", ckpt, load_vae, claims);

    let rnn = MdnRnn::new(&cfg.rnn(), 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&rnn);
    ckpt.metadata = family_metadata(RNN_FAMILY, &cfg).unwrap().metadata;
    let mixture = with(&|c| c.components = HUGE);
    let reward = with(&|c| c.reward_hidden = HUGE);
    let claims = vec![
        config_claim("an LSTM of 2^40 units", &with(&|c| c.hidden = HUGE), None),
        config_claim(
            "2^40 mixture components",
            &mixture,
            mixture.rnn().min_value_count(),
        ),
        config_claim(
            "a reward classifier of 2^40 units",
            &reward,
            reward.rnn().min_value_count(),
        ),
    ];
    assert_refused("world-rnn", ckpt, load_rnn, claims);
}

#[test]
fn policy_checkpoints_claiming_huge_models_are_refused() {
    use crate::decision::policy::{train, PolicyModel, PolicyNet, PolicyRunConfig};
    use crate::run::config::{List, MAX_WIDTH};
    let mut cfg = PolicyRunConfig::default();
    PolicyRunConfig::test_preset(&mut cfg);
    let net = PolicyNet::new(&cfg.sizes(), 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&net);
    ckpt.metadata = train::metadata(&cfg, "final").unwrap();
    // Each width within the configuration's cap of 2^16, so only the
    // count of the whole network refuses them.
    let deep = PolicyRunConfig {
        hidden: List(vec![MAX_WIDTH; 1000]),
        ..cfg.clone()
    };
    deep.validate().unwrap();
    let expected = crate::run::sizes::dense(&deep.sizes());
    let claims = vec![config_claim("1000 layers of 2^16", &deep, expected)];
    assert_refused("policy", ckpt, |p| PolicyModel::load(p), claims);
}

#[test]
fn intent_checkpoints_claiming_huge_models_are_refused() {
    use crate::decision::intent::labels::TAGS;
    use crate::decision::intent::train::{metadata, META_TOKENIZER};
    use crate::decision::intent::IntentTransformer;
    use crate::decision::intent::{tokenizer::Tokenizer, IntentModel, IntentRunConfig};
    let mut cfg = IntentRunConfig::default();
    IntentRunConfig::test_preset(&mut cfg);
    let texts = ["bring me the water from the kitchen", "turn on the lights"];
    let tok = Tokenizer::learn(texts, 1, cfg.buckets, cfg.min_n, cfg.max_n).unwrap();
    let model = IntentTransformer::new(&cfg.model(tok.units()), 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&model);
    ckpt.metadata = metadata(&cfg, &tok).unwrap();
    let count = |c: &IntentRunConfig, units: usize| {
        c.model(units)
            .min_value_count()?
            .checked_add(crate::run::sizes::linear(c.d_model, TAGS)?)
    };
    let mut claims = Vec::new();
    for (what, c) in [
        (
            "d_model 2^40",
            IntentRunConfig {
                d_model: HUGE,
                ..cfg.clone()
            },
        ),
        (
            "2^40 layers",
            IntentRunConfig {
                layers: HUGE,
                ..cfg.clone()
            },
        ),
        (
            "max_len 2^40",
            IntentRunConfig {
                max_len: HUGE,
                ..cfg.clone()
            },
        ),
    ] {
        c.validate().unwrap();
        claims.push(config_claim(what, &c, count(&c, tok.units())));
    }
    // The tokeniser's n-gram table, not the run configuration.
    let mut tok_json: serde_json::Value =
        serde_json::from_str(&ckpt.metadata[META_TOKENIZER]).unwrap();
    tok_json["buckets"] = HUGE.into();
    let units = Tokenizer::from_json(&tok_json.to_string()).unwrap().units();
    claims.push(Claim {
        what: "2^40 tokeniser buckets",
        metadata: vec![(META_TOKENIZER, tok_json.to_string())],
        expected: count(&cfg, units),
    });
    assert_refused("intent", ckpt, |p| IntentModel::load(p), claims);
}

#[test]
fn clip_checkpoints_claiming_huge_models_are_refused() {
    use crate::decision::clip::train::metadata;
    use crate::decision::clip::vocab::Vocab;
    use crate::decision::clip::{load, ClipRunConfig, DualEncoder};
    let mut cfg = ClipRunConfig::default();
    ClipRunConfig::test_preset(&mut cfg);
    let vocab = Vocab::build(["a red circle", "a blue square left of a green triangle"]);
    let model = DualEncoder::new(&cfg.model(vocab.len()), 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&model);
    ckpt.metadata = metadata(&cfg, &vocab).unwrap();
    let mut claims = Vec::new();
    for (what, c) in [
        (
            "d_model 2^40",
            ClipRunConfig {
                d_model: HUGE,
                ..cfg.clone()
            },
        ),
        (
            "image_hidden 2^40",
            ClipRunConfig {
                image_hidden: HUGE,
                ..cfg.clone()
            },
        ),
        (
            "embed 2^40",
            ClipRunConfig {
                embed: HUGE,
                ..cfg.clone()
            },
        ),
    ] {
        c.validate().unwrap();
        let expected = c.model(vocab.len()).min_value_count();
        claims.push(config_claim(what, &c, expected));
    }
    assert_refused("clip", ckpt, |p| load(p), claims);
}

#[test]
fn maml_checkpoints_claiming_huge_models_are_refused() {
    use crate::maml::classification::{self, ClassifyConfig};
    use crate::maml::meta_train::metadata;
    use crate::maml::sinusoid::{self, SinusoidConfig};
    use crate::maml::user_tasks::{self, Standardization, UserTasksConfig, META_NORMALIZATION};
    use crate::run::config::List;

    let mut cfg = SinusoidConfig::default();
    SinusoidConfig::test_preset(&mut cfg);
    let m = sinusoid::learner(&cfg).unwrap();
    let mut ckpt = Checkpoint::from_module(&m);
    ckpt.metadata = metadata(sinusoid::FAMILY, &cfg).unwrap();
    let wide = SinusoidConfig {
        hidden: List(vec![HUGE]),
        ..cfg.clone()
    };
    let claims = vec![config_claim("hidden [2^40]", &wide, wide.min_value_count())];
    assert_refused("maml-sinusoid", ckpt, sinusoid::load, claims);

    let mut cfg = UserTasksConfig::default();
    UserTasksConfig::test_preset(&mut cfg);
    let m = user_tasks::learner(&cfg, 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&m);
    ckpt.metadata = metadata(user_tasks::FAMILY, &cfg).unwrap();
    let norm = Standardization {
        x: Normalizer::identity(cfg.x_cols.0.len()),
        y: Normalizer::identity(1),
    };
    ckpt.set_json(META_NORMALIZATION, &norm).unwrap();
    let claims = vec![config_claim(
        "hidden [2^40, 2^40]",
        &UserTasksConfig {
            hidden: List(vec![HUGE, HUGE]),
            ..cfg.clone()
        },
        None,
    )];
    assert_refused("maml-user", ckpt, user_tasks::load, claims);

    let mut cfg = ClassifyConfig::default();
    ClassifyConfig::test_preset(&mut cfg);
    let m = classification::learner(&cfg, 0).unwrap();
    let mut ckpt = Checkpoint::from_module(&m.model);
    ckpt.metadata = metadata(classification::FAMILY, &cfg).unwrap();
    let wide = ClassifyConfig {
        dim: HUGE,
        ..cfg.clone()
    };
    let claims = vec![config_claim("dim 2^40", &wide, wide.min_value_count())];
    assert_refused("maml-classify", ckpt, classification::load, claims);
}
