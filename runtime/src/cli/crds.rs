//! `ferry crds`: the CustomResourceDefinitions generated from the resource types, printed
//! (for `kubectl apply -f -`) or written with the editor JSON schema (`make crds`).

use std::process::ExitCode;

use ferry_api::crd;

use super::CrdsArgs;

/// Prints or writes the CRDs.
pub fn main(args: &CrdsArgs) -> anyhow::Result<ExitCode> {
    match &args.out {
        Some(dir) => {
            for path in crd::write_all(dir)? {
                eprintln!("wrote {}", path.display());
            }
        }
        None => super::write_stdout(&crd::to_yaml(&crd::all()))?,
    }
    Ok(ExitCode::SUCCESS)
}
