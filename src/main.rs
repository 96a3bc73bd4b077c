//! The `rtask` binary: parse the command line, run, turn the result into an exit code.

fn main() -> std::process::ExitCode {
    rtask::main()
}
