//! `GET /`: where a person opening Clavis's address lands.
//!
//! - Signed in (a live SSO session): `/me` (the console does not exist
//!   yet).
//! - Otherwise, once Clavis has an administrator: `/login`.
//! - On a fresh install, where nobody holds the `admin` role yet: a page
//!   saying what to run on the server to get one (`clavis identity add`
//!   or a directory source, then `clavis admin bootstrap`), since nobody
//!   could sign in anyway.

use crate::AppState;
use crate::error::ApiError;
use crate::pages::{Lang, esc, layout};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use clavis_directory::roles;
use clavis_store::models::IdentityRoleRow;

/// `GET /`.
#[get("/")]
async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if crate::sso_web::current(&state, &req).await?.is_some() {
        return Ok(see_other("/me"));
    }
    let mut conn = state.db.conn().await?;
    if IdentityRoleRow::anyone_holds(&mut conn, roles::ADMIN).await? {
        return Ok(see_other("/login"));
    }
    let lang = Lang::of(&req);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(layout(
            lang,
            lang.t("Première mise en service", "First start"),
            &first_start(lang),
            false,
        )))
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The fresh-install page: the commands to run on the server, in order.
fn first_start(lang: Lang) -> String {
    let add = "clavis identity add --birth-name DUPONT --given-names \"Marie, Anne\" \\\n  --birth-date 1980-05-17";
    let bootstrap = "clavis admin bootstrap --identity OID";
    format!(
        "<h1>{title}</h1><p>{intro}</p>\
         <h2>{step1}</h2><p>{step1_text}</p><pre><code>{add}</code></pre>\
         <p>{step1_alt}</p>\
         <h2>{step2}</h2><p>{step2_text}</p><pre><code>{bootstrap}</code></pre>\
         <p>{after}</p>",
        title = esc(lang.t(
            "Clavis n'a pas encore d'administrateur",
            "Clavis has no administrator yet"
        )),
        intro = esc(lang.t(
            "Personne ne peut encore se connecter. Sur le serveur, avec le compte du service \
             et sa configuration (installé par paquet : sudo -u clavis clavis --config \
             /etc/clavis/clavis.toml …), lancez :",
            "Nobody can sign in yet. On the server, as the service's account and with its \
             configuration (installed from a package: sudo -u clavis clavis --config \
             /etc/clavis/clavis.toml …), run:"
        )),
        step1 = esc(lang.t("1. Une première identité", "1. A first identity")),
        step1_text = esc(lang.t(
            "Créez la personne qui administrera Clavis (la commande affiche son identifiant, \
             l'OID) :",
            "Create the person who will administer Clavis (the command prints their \
             identifier, the OID):"
        )),
        add = esc(add),
        step1_alt = esc(lang.t(
            "Ou bien configurez une source d'annuaire (RH, AD, CSV) dans clavis.toml et lancez \
             clavis sync.",
            "Or configure a directory source (HR, AD, CSV) in clavis.toml and run clavis sync."
        )),
        step2 = esc(lang.t(
            "2. Son rôle d'administrateur",
            "2. Their administrator role"
        )),
        step2_text = esc(lang.t(
            "Donnez-lui le rôle admin ; la commande affiche un lien à usage unique pour \
             enregistrer sa clé de sécurité :",
            "Give them the admin role; the command prints a one-time link to enrol their \
             security key:"
        )),
        bootstrap = esc(bootstrap),
        after = esc(lang.t(
            "Ensuite, cette adresse mène à la page de connexion.",
            "Then this address leads to the sign-in page."
        )),
    )
}

/// Registers `/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home);
}
