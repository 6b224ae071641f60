//! ID-token signing cost: `cargo bench -p clavis_oidc --bench sign`.

use clavis_oidc::keys::{Alg, KeyRing, MasterKey};
use clavis_testkit::db::{Backend, TestDb};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ring = rt.block_on(async {
        let t = TestDb::new(Backend::Sqlite).await;
        let master = MasterKey::from_bytes(&[1u8; 32]);
        let mut conn = t.db.conn().await.expect("conn");
        clavis_oidc::keys::ensure(&mut conn, &master, 0)
            .await
            .expect("keys");
        KeyRing::load(&mut conn, &master, 0, 600)
            .await
            .expect("ring")
    });
    let claims = json!({"iss": "https://clavis.chu.test", "sub": "5c0f7e1a-2d7b-4f51-9a0e-3b1c2d4e5f60", "aud": "dpi",
        "exp": 1_795_335_000, "iat": 1_795_334_400, "auth_time": 1_795_334_400, "acr": "eidas2", "amr": ["hwk", "pin", "mfa"]});
    for alg in [Alg::Rs256, Alg::Es256] {
        let key = ring.current(alg).expect("key");
        c.bench_function(&format!("sign_id_token_{}", alg.as_str()), |b| {
            b.iter(|| key.sign("JWT", &claims).expect("sign"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
