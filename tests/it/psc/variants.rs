//! The ways PSC may be met: `private_key_jwt` instead of a secret, ID
//! tokens signed ES256 or PS256, userinfo as a signed JWT; and the person
//! who signed in through PSC adding a FIDO2 key where the hospital allows
//! it.

use super::*;
use crate::support::on_both_backends;
use clavis_oidc::keys::SigningKey;

on_both_backends!(
    private_key_jwt_es256_id_tokens_and_a_signed_userinfo_link,
    ps256_id_tokens_and_a_signed_userinfo_link,
    a_tls_client_certificate_is_presented_at_psc_s_token_endpoint,
);

async fn linked_with<A: AppService>(svc: &A, t: &TestApp) {
    let r = link_as(svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(location(&r), "/me", "{}", text(r).await);
    let link = link_of(t).await.expect("linked");
    assert_eq!(link.national_id, CLAIRE.national_id);
}

async fn private_key_jwt_es256_id_tokens_and_a_signed_userinfo_link(backend: Backend) {
    let rng = ring::rand::SystemRandom::new();
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("key");
    let key = SigningKey::from_private_pkcs8(der.as_ref()).expect("P-256 key");
    let jwks = json!({"keys": [key.public_jwk]}).to_string();
    let psc = StandIn::start(&[
        ("CLIENT_AUTH", "private_key_jwt"),
        ("CLIENT_JWKS", &jwks),
        ("ID_TOKEN_ALG", "ES256"),
        ("USERINFO_SIGNED", "1"),
    ]);
    let t = app_with(
        backend,
        psc_config(&psc),
        ClientAuth::PrivateKey(Box::new(key)),
    )
    .await;
    let svc = t.service().await;
    linked_with(&svc, &t).await;
    let sent = psc.requests().await;
    assert_eq!(sent["token"][0]["client_auth"], "client_assertion");
}

async fn ps256_id_tokens_and_a_signed_userinfo_link(backend: Backend) {
    let psc = StandIn::start(&[("ID_TOKEN_ALG", "PS256"), ("USERINFO_SIGNED", "1")]);
    let t = app(backend, &psc).await;
    let svc = t.service().await;
    linked_with(&svc, &t).await;
}

/// A throwaway PKI made with the `openssl` command: a CA, PSC's server
/// certificate for 127.0.0.1, and Clavis's client certificate.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("dir");
        let run = |args: &[&str]| {
            let o = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl runs (scripts/test-services installs it)");
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=Test CA",
                "-days",
                "2",
            ],
        ]
        .concat());
        for (name, ext) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(dir.path().join(format!("{name}.ext")), ext).expect("ext");
            run(&[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            ]
            .concat());
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ]);
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).expect("pki file")
    }
}

async fn a_tls_client_certificate_is_presented_at_psc_s_token_endpoint(backend: Backend) {
    let pki = Pki::new();
    let psc = StandIn::start(&[
        ("TLS_CERT", &pki.path("server.crt")),
        ("TLS_KEY", &pki.path("server.key")),
        ("TLS_CLIENT_CA", &pki.path("ca.crt")),
    ]);
    assert!(psc.issuer.starts_with("https://"), "{}", psc.issuer);
    let roots = reqwest::Certificate::from_pem_bundle(&pki.read("ca.crt")).expect("ca");
    let secret = || ClientAuth::Secret(clavis_core::Secret::new(PSC_SECRET.into()));
    // Without the client certificate, PSC refuses the code: nothing stored.
    let t = app_with_tls(
        backend,
        psc_config(&psc),
        secret(),
        clavis_federation::Tls {
            roots: roots.clone(),
            identity: None,
        },
    )
    .await;
    let svc = t.service().await;
    let r = link_as(&svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert!(text(r).await.contains("data-reason=\"token_refused\""));
    assert!(link_of(&t).await.is_none());
    drop(svc);
    // With it, the link is made.
    let mut pem = pki.read("client.crt");
    pem.extend(pki.read("client.key"));
    let identity = reqwest::Identity::from_pem(&pem).expect("identity");
    let t = app_with_tls(
        backend,
        psc_config(&psc),
        secret(),
        clavis_federation::Tls {
            roots,
            identity: Some(identity),
        },
    )
    .await;
    let svc = t.service().await;
    let r = link_as(&svc, &t.session().cookie, "/me", Some(CLAIRE.id)).await;
    assert_eq!(location(&r), "/me", "{}", text(r).await);
    let tokens = psc.requests().await["token"].clone();
    assert_eq!(tokens.as_array().map(Vec::len), Some(2));
    assert_eq!(tokens[0]["client_cert"], false);
    assert_eq!(tokens[1]["client_cert"], true);
}
