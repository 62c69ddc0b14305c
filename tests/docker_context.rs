//! The container's build context, checked without a Docker engine: the tree with
//! `.dockerignore` applied as Docker applies it, every `COPY` source of the Dockerfile's build
//! stage in that context, and the build stage's cargo command run there (`--locked`): cargo
//! loads the workspace and resolves it from `Cargo.lock` alone (`cargo metadata`), and, with
//! `OM_TEST_DOCKER_BUILD=1` (what `scripts/test` sets for the whole suite), builds the release
//! binary exactly as the Dockerfile does.
//!
//! Docker's rules, as `.dockerignore` documents them: a line is a pattern of path components
//! (`*` and `?` do not cross `/`, `**` crosses any number), relative to the context's root
//! (a leading `/` is dropped); a pattern that matches a directory matches everything under it;
//! a line starting with `!` is an exception; and the last line that matches a path decides.

use std::path::{Path, PathBuf};
use std::process::Command;

use globset::{Glob, GlobMatcher};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One line of `.dockerignore`.
struct Rule {
    matcher: GlobMatcher,
    /// Components of the pattern: a path with more is also matched by its leading ones.
    depth: usize,
    /// `!`: the matched paths are sent after all.
    include: bool,
}

fn rules(dockerignore: &str) -> Vec<Rule> {
    dockerignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (include, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
            let matcher = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map(|g: Glob| g.compile_matcher())
                .unwrap_or_else(|e| panic!(".dockerignore: `{line}`: {e}"));
            Rule {
                matcher,
                depth: pattern.split('/').count(),
                include,
            }
        })
        .collect()
}

/// Whether `path` (relative, `/`-separated) is in the build context.
fn sent(rules: &[Rule], path: &str) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    let mut sent = true;
    for rule in rules {
        let matched = rule.matcher.is_match(path)
            || (rule.depth < components.len()
                && rule.matcher.is_match(components[..rule.depth].join("/")));
        if matched {
            sent = rule.include;
        }
    }
    sent
}

/// The files git knows of (tracked, or new and not ignored): what a clean checkout holds.
fn tree() -> Vec<String> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .current_dir(ROOT)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|p| !p.is_empty() && Path::new(ROOT).join(p).is_file())
        .map(str::to_owned)
        .collect()
}

/// The sources of the build stage's `COPY` lines (the first stage; `--from` copies excluded).
fn copy_sources(dockerfile: &str) -> Vec<String> {
    let mut stages = 0;
    let mut sources = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("FROM ") {
            stages += 1;
        }
        if stages != 1 || !upper.starts_with("COPY ") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        let args: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
        assert!(args.len() >= 2, "a COPY without a destination: `{line}`");
        sources.extend(args[..args.len() - 1].iter().map(|s| s.to_string()));
    }
    sources
}

/// The build stage's cargo command (the `RUN` line that calls `cargo build`), as arguments.
fn cargo_command(dockerfile: &str) -> Vec<String> {
    let joined = dockerfile.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("the Dockerfile builds with cargo");
    let command = &line[line.find("cargo build").unwrap()..];
    let command = command.split("&&").next().unwrap();
    command
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

/// The platform rustc builds for here.
fn host() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .to_owned()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(name)).unwrap()
}

/// Copies what Docker would send into `dir` (emptied first).
fn build_context(dir: &Path) -> Vec<String> {
    let rules = rules(&read(".dockerignore"));
    let _ = std::fs::remove_dir_all(dir);
    let files: Vec<String> = tree().into_iter().filter(|f| sent(&rules, f)).collect();
    for f in &files {
        let to = dir.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(ROOT).join(f), to).unwrap();
    }
    files
}

#[test]
fn dockerignore_rules_are_applied_as_docker_applies_them() {
    let rules = rules("*\n!Cargo.toml\n!src/\n# a comment\nsrc/**/*.bak\n!/docs/keep.md\n");
    assert!(sent(&rules, "Cargo.toml"));
    assert!(
        sent(&rules, "src/main.rs"),
        "a directory's exception covers its files"
    );
    assert!(sent(&rules, "src/a/b/c.rs"));
    assert!(
        !sent(&rules, "src/a/old.bak"),
        "the last matching line decides"
    );
    assert!(
        !sent(&rules, "target/debug/x"),
        "`*` matches a top-level directory"
    );
    assert!(!sent(&rules, "README.md"));
    assert!(sent(&rules, "docs/keep.md"));
    assert!(!sent(&rules, "docs/other.md"));
    assert!(
        !sent(&rules, "srcx/main.rs"),
        "`src` is not a prefix of `srcx`"
    );
}

#[test]
fn the_dockerfile_is_read_as_written() {
    let dockerfile = read("Dockerfile");
    let sources = copy_sources(&dockerfile);
    for needed in ["Cargo.toml", "Cargo.lock", "src", "migrations"] {
        assert!(sources.iter().any(|s| s == needed), "{needed}: {sources:?}");
    }
    let cargo = cargo_command(&dockerfile);
    assert_eq!(cargo[0], "build", "{cargo:?}");
    assert!(cargo.iter().any(|a| a == "--locked"), "{cargo:?}");
    assert!(cargo.iter().any(|a| a == "--release"), "{cargo:?}");
}

/// Every `COPY` source of the build stage is in the context, and cargo, in the context alone,
/// loads the workspace from `Cargo.lock` (`--locked`): then builds it as the Dockerfile does,
/// when asked.
#[test]
fn the_build_context_holds_what_the_build_stage_needs() {
    let dockerfile = read("Dockerfile");
    let target = PathBuf::from(ROOT).join("target/docker-context");
    let context = target.join("context");
    let files = build_context(&context);
    for source in copy_sources(&dockerfile) {
        let source = source.trim_start_matches("./").trim_end_matches('/');
        let prefix = format!("{source}/");
        assert!(
            files.iter().any(|f| f == source || f.starts_with(&prefix)),
            "`COPY {source}` of the Dockerfile is not in the build context: .dockerignore leaves it out"
        );
    }
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("target/") || f.starts_with(".git/")),
        "the build context holds build output or git's files"
    );

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Resolved for this machine's platform (the image's), from what the suite's own build
    // downloaded: no network.
    let metadata = Command::new(&cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host()])
        .current_dir(&context)
        .env("CARGO_TARGET_DIR", target.join("target"))
        .output()
        .unwrap();
    assert!(
        metadata.status.success(),
        "cargo cannot load the workspace from the build context alone:\n{}",
        String::from_utf8_lossy(&metadata.stderr)
    );

    if std::env::var("OM_TEST_DOCKER_BUILD").as_deref() != Ok("1") {
        eprintln!("the release build of the context is skipped: OM_TEST_DOCKER_BUILD=1 runs it");
        return;
    }
    let build = Command::new(&cargo)
        .args(cargo_command(&dockerfile))
        .current_dir(&context)
        // Kept between runs, as the Dockerfile's cache mount of /src/target keeps it.
        .env("CARGO_TARGET_DIR", target.join("target"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the build stage's cargo command fails in the build context:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let binary = target.join("target/release/order-manager");
    assert!(binary.is_file(), "{} was not built", binary.display());
}
