//! Split debug files: found by `.gnu_debuglink` next to the binary and by build-id inside a
//! container root, checked (CRC, build-id), attached; and MiniDebugInfo.

use std::path::Path;

use symbolizer::root::ContainerRoot;
use symbolizer::{find_debug_file, DebugFiles, ElfError, HostFiles, Symbolized};

use crate::support::{compare, every_address, fixtures, module, nm_functions};

#[test]
fn debuglink_beside_the_binary_gives_dwarf_and_symbols() {
    let f = fixtures();
    let path = f.path("split/app");
    let mut m = module(&path);
    assert!(!m.has_dwarf() && !m.has_symtab());
    assert_eq!(m.debuglink().map(|(name, _)| name), Some("app.debug"));
    let debug = find_debug_file(&m, &path, &HostFiles).expect("split/.debug/app.debug");
    m.attach_debug(debug).unwrap();
    assert!(m.has_dwarf() && m.has_symtab());
    // The same frames as binutils gives for the unstripped original.
    let addrs = every_address(&nm_functions(&f.path("pie"), false));
    let diffs = compare(&m, &f.path("pie"), &addrs, 20);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A directory used as a container root, removed on drop.
struct Root(std::path::PathBuf);

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn root(name: &str) -> Root {
    let dir = fixtures().dir.join(format!("root-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Root(dir)
}

#[test]
fn build_id_inside_a_container_root() {
    let f = fixtures();
    let r = root("build-id");
    let stripped = std::fs::read(f.path("pie.stripped")).unwrap();
    let mut m = symbolizer::ElfModule::parse(stripped.clone()).unwrap();
    let id = m.build_id().unwrap().to_vec();
    let debug_path = symbolizer::debug_files::build_id_path(&id).unwrap();
    let inside = r.0.join(debug_path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::copy(f.path("split/.debug/app.debug"), &inside).unwrap();
    std::fs::create_dir_all(r.0.join("app")).unwrap();
    std::fs::write(r.0.join("app/prog"), &stripped).unwrap();

    let container = ContainerRoot::at(&r.0).unwrap();
    let debug = find_debug_file(&m, Path::new("/app/prog"), &container).expect("found by build-id");
    // Not read from the host: the same path outside the root does not exist.
    assert!(HostFiles.open(&debug_path).is_none());
    m.attach_debug(debug).unwrap();
    assert!(m.has_dwarf());
    let main = nm_functions(&f.path("pie"), false).into_iter().find(|s| s.name == "main").unwrap();
    let Symbolized::Frames(frames) = m.symbolize_vaddr(main.addr) else { panic!() };
    assert_eq!(frames.last().unwrap().function.as_deref(), Some("main"));
    assert!(frames.last().unwrap().file.as_deref().unwrap().ends_with("inlines.c"));
}

#[test]
fn wrong_candidates_are_skipped() {
    let f = fixtures();
    let r = root("wrong");
    // A debug file of another binary at the build-id path, and a debuglink name with wrong
    // contents (CRC) beside the binary: neither is taken.
    let m = module(&f.path("split/app"));
    let id = m.build_id().unwrap().to_vec();
    let debug_path = symbolizer::debug_files::build_id_path(&id).unwrap();
    let inside = r.0.join(debug_path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::copy(f.path("nopie"), &inside).unwrap();
    std::fs::create_dir_all(r.0.join("app")).unwrap();
    std::fs::copy(f.path("nopie"), r.0.join("app/app.debug")).unwrap();
    let container = ContainerRoot::at(&r.0).unwrap();
    assert!(find_debug_file(&m, Path::new("/app/app"), &container).is_none());
    // Once the right file is in .debug/, it is found.
    std::fs::create_dir_all(r.0.join("app/.debug")).unwrap();
    std::fs::copy(f.path("split/.debug/app.debug"), r.0.join("app/.debug/app.debug")).unwrap();
    assert!(find_debug_file(&m, Path::new("/app/app"), &container).is_some());
    // And under /usr/lib/debug/<dir>/.
    std::fs::remove_file(r.0.join("app/.debug/app.debug")).unwrap();
    std::fs::create_dir_all(r.0.join("usr/lib/debug/app")).unwrap();
    std::fs::copy(f.path("split/.debug/app.debug"), r.0.join("usr/lib/debug/app/app.debug")).unwrap();
    assert!(find_debug_file(&m, Path::new("/app/app"), &container).is_some());
}

#[test]
fn a_debug_file_of_another_build_is_refused() {
    let f = fixtures();
    let mut m = module(&f.path("pie.stripped"));
    let other = std::fs::read(f.path("nopie")).unwrap();
    assert!(matches!(m.attach_debug(other), Err(ElfError::BuildIdMismatch { .. })));
    assert!(!m.has_dwarf());
    assert!(matches!(m.attach_debug(b"not elf".to_vec()), Err(ElfError::NotElf)));
}

#[test]
fn minidebuginfo_names_static_functions() {
    let f = fixtures();
    let m = module(&f.path("mini"));
    assert!(!m.has_dwarf());
    assert!(m.has_symtab(), "the .gnu_debugdata symbol table is read");
    let plain = module(&f.path("pie.stripped"));
    for s in nm_functions(&f.path("pie"), false).iter().filter(|s| s.size > 0) {
        let Symbolized::Frames(frames) = m.symbolize_vaddr(s.addr + s.size / 2) else {
            panic!("{} not named", s.name)
        };
        assert_eq!(frames[0].function.as_deref(), Some(s.name.as_str()));
        assert!(matches!(plain.symbolize_vaddr(s.addr), Symbolized::Unknown(_)));
    }
}
