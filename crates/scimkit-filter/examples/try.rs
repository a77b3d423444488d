#![allow(missing_docs, clippy::print_stdout)]
fn main() {
    for arg in std::env::args().skip(1) {
        match scimkit_filter::parse(&arg) {
            Ok(f) => println!("{f}\n{}", f.to_json()),
            Err(e) => println!("{e}"),
        }
    }
}
