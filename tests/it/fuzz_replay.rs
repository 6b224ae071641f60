//! The fuzz targets' checks (`modules/*/fuzz/checks/`), run by the suite on
//! every test run: each committed seed, every prefix of it, and a fixed,
//! reproducible set of mutations of the seeds (bits flipped, bytes set to
//! boundary or delimiter values, insertions, deletions, duplicated ranges,
//! splices of two seeds, the settings byte changed), several stacked per
//! input as libFuzzer does.
//!
//! libFuzzer with coverage guidance explores far more (`scripts/fuzz`, run
//! by hand and before a release: docs/operations.md, "Fuzzing"); this keeps
//! what the targets check from regressing between campaigns, in CI's time
//! budget, and makes an input committed under `seeds/` a regression test.
//! A failing input is written to `fuzz-replay-<target>` in the test target
//! directory, for `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>`.
//! A panic is caught and named; an abort (a stack overflow) or an endless
//! loop takes the whole test binary down or holds it, as it would a
//! libFuzzer run without its timeout.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[path = "../../modules/desfire/fuzz/checks/parse_response.rs"]
mod parse_response;

#[path = "../../modules/oidc/fuzz/checks/authorize_request.rs"]
mod authorize_request;

#[path = "../../modules/directory/fuzz/checks/common.rs"]
mod common;
#[path = "../../modules/directory/fuzz/checks/csv_source.rs"]
mod csv_source;
#[path = "../../modules/directory/fuzz/checks/ldap_mapping.rs"]
mod ldap_mapping;

#[test]
fn card_answers_from_seeds_and_mutations() {
    replay("desfire", "parse_response", parse_response::check, 150_000);
}

#[test]
fn authorization_requests_from_seeds_and_mutations() {
    replay(
        "oidc",
        "authorize_request",
        authorize_request::check,
        60_000,
    );
}

#[test]
fn csv_files_from_seeds_and_mutations() {
    replay("directory", "csv_source", csv_source::check, 8_000);
}

#[test]
fn ldap_entries_from_seeds_and_mutations() {
    replay("directory", "ldap_mapping", ldap_mapping::check, 30_000);
}

/// Inputs grow no larger than this (libFuzzer's default is 4096 too).
const MAX_LEN: usize = 4096;

/// Values that parsers treat specially: bounds, delimiters of the four
/// formats, the start of a UTF-8 sequence and of a BOM.
const BYTES: &[u8] = &[
    0x00, 0x01, 0x7F, 0x80, 0xFF, 0xC3, 0xEF, b';', b',', b'\t', b'|', b'"', b'\n', b'\r', b':',
    b'%', b'&', b'=', b'+', b' ',
];

/// Tokens inserted whole: percent escapes, a BOM, quoted and line-ending
/// pairs, DESFire status words, parameter names of an authorization request.
const TOKENS: &[&[u8]] = &[
    b"\xEF\xBB\xBF",
    b"%00",
    b"%FF",
    b"%26",
    b"%3D",
    b"\"\"",
    b"\r\n",
    b"\xC3\xA9",
    b"\x91\x00",
    b"\x91\xAF",
    b"\x91\xAE",
    b"&redirect_uri=",
    b"&scope=openid",
    b"&state=",
    b"&prompt=none",
    b"&code_challenge=",
    b"&acr_values=",
];

/// Runs `check` on each seed of `modules/<module>/fuzz/seeds/<target>`,
/// every prefix of each, then `mutations` mutated inputs.
fn replay(module: &str, target: &str, check: fn(&[u8]), mutations: usize) {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("modules")
        .join(module)
        .join("fuzz");
    let seeds = seeds(&fuzz_dir.join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seed for {target}");
    let run = |input: &[u8], what: &dyn Fn() -> String| {
        if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
            let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-replay-{target}"));
            let saved = std::fs::write(&file, input).map_or_else(
                |e| format!("not saved: {e}"),
                |()| format!("saved to {}", file.display()),
            );
            panic!(
                "{target} failed on {} ({saved}; replay it with \
                 `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none {target} <file>` in {})",
                what(),
                fuzz_dir.display()
            );
        }
    };
    for (name, seed) in &seeds {
        for len in 0..=seed.len() {
            run(&seed[..len], &|| {
                format!("the first {len} bytes of seed {name}")
            });
        }
    }
    // One fixed generator per target: a failure is the same input each run.
    let mut rng = StdRng::seed_from_u64(target.bytes().fold(0x00C1_A715_u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }));
    for i in 0..mutations {
        let input = mutate(&mut rng, &seeds);
        run(&input, &|| format!("mutation {i}"));
    }
}

/// The files of `dir`, sorted by name.
fn seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            )
        })
        .collect();
    out.sort();
    out
}

/// A seed with one to eight mutations stacked on it.
fn mutate(rng: &mut StdRng, seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].1.clone();
    for _ in 0..rng.random_range(1..=8) {
        let len = data.len();
        match rng.random_range(0..10) {
            0 if len > 0 => {
                let at = rng.random_range(0..len);
                data[at] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let at = rng.random_range(0..len);
                data[at] = rng.random();
            }
            2 if len > 0 => {
                let at = rng.random_range(0..len);
                data[at] = BYTES[rng.random_range(0..BYTES.len())];
            }
            3 => {
                let at = rng.random_range(0..=len);
                let n = rng.random_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(at..at, bytes);
            }
            4 => {
                let at = rng.random_range(0..=len);
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            5 if len > 0 => {
                let from = rng.random_range(0..len);
                let to = rng.random_range(from..=len.min(from + 32));
                data.drain(from..to);
            }
            6 if len > 0 => {
                let from = rng.random_range(0..len);
                let to = rng.random_range(from..=len.min(from + 64));
                let chunk = data[from..to].to_vec();
                let at = rng.random_range(0..=len);
                data.splice(at..at, chunk);
            }
            7 => {
                // This input's head, another seed's tail.
                let other = &seeds[rng.random_range(0..seeds.len())].1;
                let head = rng.random_range(0..=len);
                let tail = rng.random_range(0..=other.len());
                data.truncate(head);
                data.extend_from_slice(&other[tail..]);
            }
            8 => data.truncate(rng.random_range(0..=len)),
            _ if len > 0 => data[0] = rng.random(),
            _ => data.push(rng.random()),
        }
        data.truncate(MAX_LEN);
    }
    data
}
