//! `docs/extending.md` is a walkthrough whose code blocks are excerpts of the real source:
//! each ```rust block starts with `// <path>` and its lines must appear, in one run, in that
//! file (whitespace at line ends ignored). So the walkthrough cannot drift from the code.
//!
//! What is compared is code and doc comments: plain `//` comment lines are left out on both
//! sides, so a comment that changes for another reason (a phase renumbered when a phase is
//! inserted) never breaks the walkthrough, and the doc quotes the code that anchors it.

use std::path::Path;

fn normalise(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !is_plain_comment(l))
        .collect()
}

/// `// ...`, not `/// ...` or `//! ...`.
fn is_plain_comment(line: &str) -> bool {
    line.starts_with("//") && !line.starts_with("///") && !line.starts_with("//!")
}

#[test]
fn every_code_block_of_the_walkthrough_is_in_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/extending.md")).expect("docs/extending.md");
    let mut checked = 0;
    let mut blocks = doc.split("```rust\n").skip(1);
    for block in blocks.by_ref() {
        let code = block.split("```").next().expect("closed block");
        let mut lines = code.lines();
        let header = lines.next().unwrap_or_default();
        let path = header
            .strip_prefix("// ")
            .unwrap_or_else(|| panic!("block does not name its file: {header:?}"));
        let source =
            std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let excerpt = normalise(&lines.collect::<Vec<_>>().join("\n"));
        assert!(!excerpt.is_empty(), "empty excerpt of {path}");
        let file = normalise(&source);
        let found = file.windows(excerpt.len()).any(|w| w == excerpt.as_slice());
        assert!(
            found,
            "this excerpt is no longer in {path}:\n{}",
            excerpt.join("\n")
        );
        checked += 1;
    }
    assert!(
        checked >= 25,
        "the walkthrough has its excerpts ({checked})"
    );
}
