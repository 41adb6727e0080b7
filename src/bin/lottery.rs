//! `lottery` command-line entry point; all logic lives in [`lottery::cli`].

fn main() {
    std::process::exit(lottery::cli::main_with_args(std::env::args_os()));
}
