//! The `doc-examples` step: every public item of the library crates carries a code example in
//! its documentation (the project's standard: "every public item documented with an example that
//! compiles"; `cargo test --doc` then compiles and runs each one).
//!
//! Stable rustdoc cannot check this (`rustdoc::missing_doc_code_examples` is nightly-only), so
//! the sources are parsed with `syn` and walked. What counts as a public item: a `pub` (not
//! `pub(crate)`) function, struct, enum, union, trait, type alias, constant, static or module
//! and a `#[macro_export]` macro, at any module depth, and a `pub` function or constant in an
//! inherent `impl` block. Not counted: items under `#[cfg(test)]` or `#[doc(hidden)]`, trait
//! methods (the trait's own example shows how it is implemented or called), methods of trait
//! impls, enum variants and fields, and items a macro generates (the checker reads the source,
//! not the expansion). A module declared as `pub mod name;` counts as documented when its
//! file's `//!` docs hold an example.
//!
//! `cargo xtask doc-examples` lists what is missing; `cargo xtask test` fails on any.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use syn::{Attribute, ImplItem, Item, Meta, Visibility};

/// The library crates whose public API is checked.
pub(crate) const LIBRARY_CRATES: &[&str] = &[
    "tenancy-core",
    "tenancy-sqlx",
    "tenancy-axum",
    "tenancy-actix",
];

/// One public item without a code example in its docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missing {
    /// The source file, relative to the workspace root.
    pub(crate) file: PathBuf,
    /// The line of the item's name.
    pub(crate) line: usize,
    /// `fn`, `struct`, `method`, ...
    pub(crate) kind: &'static str,
    /// The item's name (`Type::method` for methods).
    pub(crate) name: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} {}",
            self.file.display(),
            self.line,
            self.kind,
            self.name
        )
    }
}

/// Checks every library crate under `root`; returns the items without an example.
pub(crate) fn check_workspace(root: &Path) -> anyhow::Result<Vec<Missing>> {
    let mut missing = Vec::new();
    for krate in LIBRARY_CRATES {
        let src = root.join(krate).join("src");
        let mut files = Vec::new();
        collect_rs_files(&src, &mut files)?;
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let found = check_source(&text, &shown, &module_dir(&path))
                .with_context(|| format!("cannot parse {}", path.display()))?;
            missing.extend(found);
        }
    }
    Ok(missing)
}

/// The directory holding the files of `path`'s child modules (`a/b.rs` → `a/b/`, `a/mod.rs`,
/// `a/lib.rs`, `a/main.rs` → `a/`).
fn module_dir(path: &Path) -> PathBuf {
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    match path.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") | None => parent,
        Some(stem) => parent.join(stem),
    }
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks one source file. `mod_dir` is where the files of its `mod name;` children live (for
/// the `//!` docs of `pub mod name;`).
pub(crate) fn check_source(text: &str, shown: &Path, mod_dir: &Path) -> syn::Result<Vec<Missing>> {
    let file = syn::parse_file(text)?;
    let mut walker = Walker {
        file: shown,
        mod_dir: mod_dir.to_path_buf(),
        missing: Vec::new(),
    };
    walker.items(&file.items);
    Ok(walker.missing)
}

struct Walker<'a> {
    file: &'a Path,
    mod_dir: PathBuf,
    missing: Vec<Missing>,
}

impl Walker<'_> {
    fn items(&mut self, items: &[Item]) {
        for item in items {
            self.item(item);
        }
    }

    fn item(&mut self, item: &Item) {
        let (attrs, vis, kind, ident): (&[Attribute], Option<&Visibility>, &'static str, _) =
            match item {
                Item::Fn(i) => (&i.attrs, Some(&i.vis), "fn", Some(&i.sig.ident)),
                Item::Struct(i) => (&i.attrs, Some(&i.vis), "struct", Some(&i.ident)),
                Item::Enum(i) => (&i.attrs, Some(&i.vis), "enum", Some(&i.ident)),
                Item::Union(i) => (&i.attrs, Some(&i.vis), "union", Some(&i.ident)),
                Item::Trait(i) => (&i.attrs, Some(&i.vis), "trait", Some(&i.ident)),
                Item::Type(i) => (&i.attrs, Some(&i.vis), "type", Some(&i.ident)),
                Item::Const(i) => (&i.attrs, Some(&i.vis), "const", Some(&i.ident)),
                Item::Static(i) => (&i.attrs, Some(&i.vis), "static", Some(&i.ident)),
                Item::Mod(i) => (&i.attrs, Some(&i.vis), "mod", Some(&i.ident)),
                Item::Macro(i) => (&i.attrs, None, "macro", i.ident.as_ref()),
                Item::Impl(i) => {
                    if !skipped(&i.attrs) && i.trait_.is_none() {
                        self.inherent_impl(i);
                    }
                    return;
                }
                _ => return,
            };
        if skipped(attrs) {
            return;
        }
        let public = match vis {
            Some(v) => matches!(v, Visibility::Public(_)),
            None => attrs.iter().any(|a| a.path().is_ident("macro_export")),
        };
        if let Item::Mod(m) = item {
            // Walk the inline module's items whatever its visibility: `pub` items of a private
            // module may be re-exported.
            if let Some((_, inner)) = &m.content {
                let saved = self.mod_dir.clone();
                self.mod_dir = self.mod_dir.join(m.ident.to_string());
                self.items(inner);
                self.mod_dir = saved;
                if public && !has_example(attrs) {
                    self.push(kind, &m.ident, m.ident.to_string());
                }
                return;
            }
            if public
                && !has_example(attrs)
                && !module_file_has_example(&self.mod_dir, &m.ident, path_attr(attrs).as_deref())
            {
                self.push(kind, &m.ident, m.ident.to_string());
            }
            return;
        }
        if public
            && !has_example(attrs)
            && let Some(ident) = ident
        {
            self.push(kind, ident, ident.to_string());
        }
    }

    fn inherent_impl(&mut self, imp: &syn::ItemImpl) {
        let owner = type_name(&imp.self_ty);
        for item in &imp.items {
            let (attrs, vis, kind, ident) = match item {
                ImplItem::Fn(f) => (&f.attrs, &f.vis, "method", &f.sig.ident),
                ImplItem::Const(c) => (&c.attrs, &c.vis, "const", &c.ident),
                _ => continue,
            };
            if matches!(vis, Visibility::Public(_)) && !skipped(attrs) && !has_example(attrs) {
                self.push(kind, ident, format!("{owner}::{ident}"));
            }
        }
    }

    fn push(&mut self, kind: &'static str, ident: &syn::Ident, name: String) {
        self.missing.push(Missing {
            file: self.file.to_path_buf(),
            line: ident.span().start().line,
            kind,
            name,
        });
    }
}

/// The last path segment of an impl's self type (`Foo<T>` → `Foo`).
fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(String::new, |s| s.ident.to_string()),
        _ => String::from("_"),
    }
}

/// `#[cfg(test)]` or `#[doc(hidden)]`.
fn skipped(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        let Meta::List(list) = &a.meta else {
            return false;
        };
        let tokens = list.tokens.to_string();
        (a.path().is_ident("cfg") && tokens == "test")
            || (a.path().is_ident("doc") && tokens == "hidden")
    })
}

/// Whether the `///` (or `//!`) docs among `attrs` hold a fenced code block.
fn has_example(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        if !a.path().is_ident("doc") {
            return false;
        }
        match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => s.value().contains("```"),
                _ => false,
            },
            _ => false,
        }
    })
}

/// The value of a `#[path = "..."]` attribute.
fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// Whether the file of `mod name;` (in `dir`, or at its `#[path]`) has an example in its `//!`
/// docs.
fn module_file_has_example(dir: &Path, name: &syn::Ident, path: Option<&str>) -> bool {
    let name = name.to_string();
    let candidates = match path {
        // `#[path]` is relative to the declaring file's directory: `dir` for a `lib.rs` or
        // `mod.rs`, `dir`'s parent for `a/b.rs` (whose children live in `a/b/`).
        Some(p) => vec![
            dir.join(p),
            dir.parent().map_or_else(PathBuf::new, |d| d.join(p)),
        ],
        None => vec![
            dir.join(format!("{name}.rs")),
            dir.join(&name).join("mod.rs"),
        ],
    };
    candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| syn::parse_file(&text).ok())
        .any(|file| has_example(&file.attrs))
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<String> {
        check_source(src, Path::new("x.rs"), Path::new("."))
            .unwrap_or_else(|e| panic!("parse: {e}"))
            .into_iter()
            .map(|m| format!("{} {}", m.kind, m.name))
            .collect()
    }

    #[test]
    fn public_items_without_an_example_are_reported() {
        let src = r#"
            /// Docs but no example.
            pub struct A;
            /// With one.
            ///
            /// ```
            /// let _ = 1;
            /// ```
            pub struct B;
            pub fn f() {}
            pub(crate) fn g() {}
            fn h() {}
            pub const C: u8 = 1;
            pub trait T { fn m(&self); }
        "#;
        assert_eq!(names(src), ["struct A", "fn f", "const C", "trait T"]);
    }

    #[test]
    fn inherent_methods_count_and_trait_impls_do_not() {
        let src = r#"
            /// ```
            /// ```
            pub struct A;
            impl A {
                pub fn new() -> Self { A }
                /// ```
                /// assert!(true);
                /// ```
                pub fn ok(&self) {}
                pub(crate) fn hidden(&self) {}
                fn private(&self) {}
                pub const MAX: u8 = 3;
            }
            impl Clone for A { fn clone(&self) -> Self { A } }
            impl<T> Wrapper<T> { pub fn get(&self) {} }
        "#;
        assert_eq!(
            names(src),
            ["method A::new", "const A::MAX", "method Wrapper::get"]
        );
    }

    #[test]
    fn test_and_hidden_items_are_skipped_and_inline_modules_walked() {
        let src = r#"
            #[cfg(test)]
            mod tests { pub fn helper() {} }
            #[doc(hidden)]
            pub fn internal() {}
            mod private { pub struct Reexported; }
            #[macro_export]
            macro_rules! m { () => {} }
            macro_rules! local { () => {} }
        "#;
        assert_eq!(names(src), ["struct Reexported", "macro m"]);
    }

    #[test]
    fn module_files_are_read_also_through_path_attributes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let with = "//! Docs.\n//!\n//! ```\n//! assert!(true);\n//! ```\n";
        for (file, text) in [
            ("a.rs", with),
            ("renamed.rs", with),
            ("c.rs", "//! None.\n"),
        ] {
            std::fs::write(dir.path().join(file), text).unwrap_or_else(|e| panic!("{e}"));
        }
        let src = "pub mod a;\n#[path = \"renamed.rs\"]\npub mod b;\npub mod c;\n";
        let found = check_source(src, Path::new("lib.rs"), dir.path())
            .unwrap_or_else(|e| panic!("parse: {e}"));
        let names: Vec<_> = found.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["c"]);
    }

    #[test]
    fn lines_point_at_the_item_name() {
        let src = "\n\npub fn third_line() {}\n";
        let found = check_source(src, Path::new("x.rs"), Path::new("."))
            .unwrap_or_else(|e| panic!("parse: {e}"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 3);
        assert_eq!(found[0].to_string(), "x.rs:3: fn third_line");
    }
}
