//! `embed_migrations!` reads `migrations/` when this crate compiles, and
//! cargo only knows the files it includes: without this, a migration added
//! to a directory of its own would be left out of the next build until
//! something else made this crate compile again (diesel_migrations'
//! documentation asks for the same).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
