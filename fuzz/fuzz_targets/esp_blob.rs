//! The ESP model blob (`ferrograd-esp`): framing, header words of every
//! kind, payload lengths; a blob that parses must run without panicking.
//! Bit 1 of the first byte asks for the checksum to be fixed up, so the
//! fuzzer gets past it to the header words.
#![no_main]
use ferrograd_esp::{format, AlignedBlob, Error, Model};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mut bytes = ferrograd_fuzz::input(data, SEEDS.get_or_init(ferrograd_fuzz::esp_seeds));
    let fix = data.first().is_some_and(|b| b & 2 == 2);
    if fix && bytes.len() >= format::PREAMBLE + format::TRAILER {
        let body = bytes.len() - format::TRAILER;
        let crc = format::crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
    // Read in place from a 4-byte aligned copy, as firmware does.
    let blob = AlignedBlob::new(&bytes);
    let Ok(model) = Model::from_bytes(blob.bytes()) else {
        return;
    };
    // What a parsed model asks for is bounded by the blob's size, except
    // for the feature count: a MAF's groups store only the prefix of the
    // features their rows read, so unread feature columns cost no bytes
    // (found by this target: 316 bytes declaring 65,537 features).
    let bound = 4 * bytes.len() + 4096;
    let (d, c, s) = (model.dim(), model.features(), model.scratch_len());
    assert!(
        d <= bound && s <= bound + 4 * c,
        "dims {d} {c} scratch {s} for {} bytes",
        bytes.len()
    );
    if s > 1 << 22 || c > 1 << 22 {
        return;
    }
    let mut scratch = model.new_scratch();
    let (x, f) = (vec![0.5f32; d], vec![0.25f32; c]);
    // Mutated weights may overflow: a non-finite result is refused with
    // `NonFinite { what: "result" }`, the one error a parsed model may give
    // for finite inputs of the right lengths.
    let finite_or_refused = |r: Result<(), Error>, what: &str| {
        if let Err(e) = r {
            assert!(
                matches!(e, Error::NonFinite { what: "result" }),
                "{what} of a parsed model: {e:?}"
            );
        }
    };
    match model {
        Model::Mlp(_) | Model::ResMlp(_) => {
            let mut out = vec![0.0; c];
            finite_or_refused(model.forward(&x, &mut out, &mut scratch), "forward");
        }
        Model::Maf(_) | Model::Mdn(_) => {
            finite_or_refused(model.log_prob(&x, &f, &mut scratch).map(|_| ()), "log_prob");
            let mut out = vec![0.0; 2 * d];
            finite_or_refused(model.sample(&f, 2, &mut out, 7, &mut scratch), "sample");
        }
    }
});
