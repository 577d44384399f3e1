//! dflow's top-level modules form layers: no module depends, through any
//! chain of `crate::` paths, on a module that depends back on it. Read from
//! the sources (test modules and `tests.rs` files left out, as tests may
//! reach anywhere), so a new `use` that closes a cycle fails here and names
//! the modules on it.
//!
//! The crates under `crates/` cannot form a cycle with dflow: cargo refuses
//! one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the files it is made of.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src/ is readable") {
        let path = entry.expect("a readable entry").path();
        let (name, files) = if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, rust_files(&path))
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, vec![path])
        } else {
            continue;
        };
        if name != "lib" && name != "main" && !files.is_empty() {
            found.insert(name, files);
        }
    }
    found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a readable entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            files.push(path);
        }
    }
    files
}

/// The source without `//` comments and without `#[cfg(test)] mod … { … }`.
fn code_of(text: &str) -> String {
    let uncommented: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut code = String::new();
    let mut rest = uncommented.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let is_mod = ["mod ", "pub mod ", "pub(crate) mod "]
            .iter()
            .any(|p| item.starts_with(p));
        match (is_mod, item.find('{')) {
            (true, Some(open)) if !item[..open].contains(';') => {
                let body = &item[open + 1..];
                let mut depth = 1;
                let mut end = body.len();
                for (i, c) in body.char_indices() {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                rest = &body[end..];
            }
            _ => rest = after,
        }
    }
    code.push_str(rest);
    code
}

/// The modules of `known` that `code` names through `crate::`.
fn uses(code: &str, known: &BTreeMap<String, Vec<PathBuf>>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = after.strip_prefix('{') {
            // `crate::{a, b::c}`: the first segment of each path.
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .filter_map(|p| p.trim().split("::").next())
                .collect()
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            vec![&after[..end]]
        };
        for name in names {
            if known.contains_key(name) {
                used.insert(name.to_owned());
            }
        }
    }
    used
}

/// The modules on cycles, grouped by strongly connected component.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    // Whether `to` is reachable from `from`.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(m) = stack.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for m in graph.keys() {
        if groups.iter().any(|g| g.contains(m)) || !reaches(m, m) {
            continue;
        }
        let group = graph
            .keys()
            .filter(|o| *o == m || (reaches(m, o) && reaches(o, m)))
            .cloned()
            .collect();
        groups.push(group);
    }
    groups
}

fn graph_of(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(src);
    known
        .iter()
        .map(|(name, files)| {
            let mut used = BTreeSet::new();
            for file in files {
                let text = std::fs::read_to_string(file).expect("a readable source file");
                used.extend(uses(&code_of(&text), &known));
            }
            used.remove(name);
            (name.clone(), used)
        })
        .collect()
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&src);
    for core in [
        "config", "store", "cmd", "profile", "doctor", "trace", "app",
    ] {
        assert!(graph.contains_key(core), "no module `{core}` in src/");
    }
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|group| {
            let edges: Vec<String> = group
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| group.contains(*b))
                        .map(move |b| format!("{a} → {b}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "module cycles: {described:?}");
}

/// The checker itself finds a cycle, one hidden in a `use crate::{…}` group
/// too, and ignores test modules and comments.
#[test]
fn the_checker_sees_a_cycle() {
    let dir = std::env::temp_dir().join(format!("dflow-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::{c, b::x};\n").unwrap();
    std::fs::write(dir.join("b/mod.rs"), "pub fn f() { crate::a::g() }\n").unwrap();
    std::fs::write(
        dir.join("c.rs"),
        "// crate::a in a comment\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
    )
    .unwrap();
    let graph = graph_of(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned(), "c".to_owned()]));
    assert!(graph["c"].is_empty(), "{graph:?}");
    let found = cycles(&graph);
    assert_eq!(
        found,
        vec![BTreeSet::from(["a".to_owned(), "b".to_owned()])]
    );
}
