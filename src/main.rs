//! `tfops`: hand the command line to the library and exit with what it says.

fn main() {
    std::process::exit(tfops::cli::start(std::env::args_os().collect()));
}
