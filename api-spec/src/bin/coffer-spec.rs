//! Regenerates `api-spec/openapi.json` and `api-spec/actions.md` from the code.
use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(dir.join("openapi.json"), api_spec::spec::openapi_json())?;
    std::fs::write(dir.join("actions.md"), api_spec::spec::actions_markdown())?;
    println!("wrote {}/openapi.json and actions.md", dir.display());
    Ok(())
}
