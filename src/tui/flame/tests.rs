use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::KeyModifiers;

use super::*;
use crate::config::Mode;
use crate::event::{Process, ProcessRef, Sample};
use crate::profile::fold;

const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

fn process(pid: u32, comm: &str) -> ProcessRef {
    Arc::new(Process {
        exe: format!("/usr/bin/{comm}"),
        ..Process::bare(pid, comm)
    })
}

/// A frame by name: which names are libc's and the kernel's is fixed here.
fn frame(name: &str, exe: &str) -> StackFrame {
    let (module, kernel) = match name {
        fold::TRUNCATED => return fold::pseudo_frame(fold::TRUNCATED, fold::DFLOW_MODULE),
        "__libc_start_main" | "clone3" | "start_thread" | "malloc" | "memcpy" | "write"
        | "poll" => (LIBC, false),
        "entry_SYSCALL_64" | "do_syscall_64" | "ksys_write" | "vfs_write" | "do_sys_poll" => {
            ("kernel", true)
        }
        _ => (exe, false),
    };
    StackFrame {
        function: name.to_owned(),
        module: module.to_owned(),
        kernel,
    }
}

fn sample(p: &ProcessRef, tid: u32, stack: &str, count: u64) -> Sample {
    Sample {
        ts_ns: 0,
        process: p.clone(),
        tid: Some(tid),
        off_cpu: false,
        stack: fold::stack(stack.split(';').map(|n| frame(n, &p.exe)).collect()),
        count,
        blocked_ns: 0,
    }
}

/// Two threads of `app` (main and a worker), a little `logger`, a
/// write into the kernel, libc, and a stack frame pointers lost.
fn samples() -> Vec<Sample> {
    let app = process(4242, "app");
    let logger = process(77, "logger");
    let main = "_start;__libc_start_main;main;run;handle";
    let worker = "clone3;start_thread;worker_loop";
    let write = "write;entry_SYSCALL_64;do_syscall_64;ksys_write";
    vec![
        sample(&app, 4242, &format!("{main};parse_request"), 30),
        sample(&app, 4242, &format!("{main};compute_checksum"), 25),
        sample(&app, 4242, &format!("{main};render_page;malloc"), 10),
        sample(&app, 4242, &format!("{main};render_page"), 8),
        sample(
            &app,
            4242,
            &format!("{main};render_page;{write};vfs_write"),
            12,
        ),
        sample(&app, 4243, &format!("{worker};compute_checksum"), 15),
        sample(&app, 4243, &format!("{worker};flush_queue;{write}"), 6),
        sample(&app, 4243, "[truncated];memcpy", 5),
        sample(
            &logger,
            77,
            "main;poll;entry_SYSCALL_64;do_syscall_64;do_sys_poll",
            4,
        ),
    ]
}

fn profile(samples: &[Sample]) -> Profile {
    let mut p = Profile::new(Mode::ON_CPU, 99);
    p.extend(samples);
    p
}

fn status() -> Status {
    Status {
        hz: 99,
        mode: "on-cpu".to_owned(),
        samples: 115,
        truncated_pct: 4.3,
        capture: CaptureStatus::example(),
    }
}

fn state(width: u16, height: u16) -> FlameState {
    let mut s = FlameState::new(true);
    s.update(Msg::Resize(Size::new(width, height)));
    s.update(Msg::Profile(profile(&samples())));
    s.update(Msg::Status(status()));
    s
}

fn press(s: &mut FlameState, code: KeyCode) -> Action {
    s.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(s: &mut FlameState, codes: &[KeyCode]) {
    for &code in codes {
        assert_eq!(press(s, code), Action::None);
    }
}

fn typed(s: &mut FlameState, text: &str) {
    for c in text.chars() {
        press(s, KeyCode::Char(c));
    }
}

fn draw(s: &FlameState, width: u16, height: u16) -> Buffer {
    crate::tui::draw(s, width, height)
}

/// The screen as text. A coloured blank cell (the body of a frame) is
/// `▒`, so frames show their extent without colours; the blank column
/// parting two frames stays a space.
fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            if cell.symbol() == " " && cell.bg != Color::Reset {
                line.push('▒');
            } else {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Where `name` first shows on a screen as text.
fn position(shown: &str, name: &str) -> (u16, u16) {
    shown
        .lines()
        .enumerate()
        .find_map(|(y, l)| {
            let x = l[..l.find(name)?].chars().count();
            Some((x as u16, y as u16))
        })
        .unwrap_or_else(|| panic!("{name} not drawn:\n{shown}"))
}

fn screen(s: &FlameState, width: u16, height: u16) -> String {
    text(&draw(s, width, height))
}

/// Up from `all` to `handle` along the widest callees.
const TO_HANDLE: [KeyCode; 6] = [KeyCode::Up; 6];

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

#[test]
fn plain() {
    for (w, h) in SIZES {
        let s = state(w, h);
        insta::assert_snapshot!(format!("plain_{w}x{h}"), screen(&s, w, h));
    }
}

#[test]
fn zoomed() {
    for (w, h) in SIZES {
        let mut s = state(w, h);
        keys(&mut s, &TO_HANDLE);
        keys(&mut s, &[KeyCode::Enter, KeyCode::Up]);
        assert_eq!(s.zoomed().last(), Some(&"handle"));
        insta::assert_snapshot!(format!("zoomed_{w}x{h}"), screen(&s, w, h));
    }
}

#[test]
fn searched() {
    for (w, h) in SIZES {
        let mut s = state(w, h);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "checksum");
        press(&mut s, KeyCode::Enter);
        let shown = screen(&s, w, h);
        // 25 + 15 of 115.
        assert!(shown.contains("/checksum 34.8% of view"), "{shown}");
        let buf = draw(&s, w, h);
        let bg = |name: &str| buf[position(&shown, name)].bg;
        assert_eq!(bg("compute_c"), MATCH);
        assert_ne!(bg("parse_req"), MATCH);
        insta::assert_snapshot!(format!("searched_{w}x{h}"), shown);
    }
}

#[test]
fn search_prompt() {
    let mut s = state(80, 24);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "qchecks");
    press(&mut s, KeyCode::Backspace);
    let shown = screen(&s, 80, 24);
    assert!(
        shown.contains("/qcheck   0.0% of view"),
        "q types into the prompt: {shown}"
    );
    press(&mut s, KeyCode::Esc);
    assert!(!s.search.is_open() && s.search.is_empty());
}

/// The prompt says "Esc clears", and so Esc does after Enter kept the
/// search, before it zooms out; Backspace only zooms out.
#[test]
fn esc_clears_a_kept_search_first() {
    let mut s = state(80, 24);
    keys(&mut s, &[KeyCode::Up, KeyCode::Enter]);
    assert_eq!(s.zoomed(), ["app-4242"]);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "checksum");
    keys(&mut s, &[KeyCode::Enter]);
    assert!(screen(&s, 80, 24).contains("/checksum"));
    keys(&mut s, &[KeyCode::Esc]);
    assert!(s.search.is_empty());
    assert_eq!(s.zoomed(), ["app-4242"], "still zoomed");
    let buf = draw(&s, 80, 24);
    let shown = text(&buf);
    assert!(!shown.contains("/checksum"), "{shown}");
    assert_ne!(buf[position(&shown, "compute_c")].bg, MATCH);
    keys(&mut s, &[KeyCode::Esc]);
    assert!(s.zoomed().is_empty(), "then zooms out");

    let mut s = state(80, 24);
    keys(&mut s, &[KeyCode::Up, KeyCode::Enter, KeyCode::Char('/')]);
    typed(&mut s, "checksum");
    keys(&mut s, &[KeyCode::Enter, KeyCode::Backspace]);
    assert!(s.zoomed().is_empty());
    assert_eq!(s.search.text(), "checksum", "Backspace keeps the search");
}

/// dflow's own cost stays on the status bar at 80 columns too.
#[test]
fn status_bar_keeps_dflows_own_cost() {
    for (w, h) in SIZES {
        let s = state(w, h);
        let shown = screen(&s, w, h);
        let bar = shown.lines().last().unwrap();
        assert!(bar.contains(" · dflow 0.4% CPU 38 MiB · "), "{w}: {bar}");
    }
}

#[test]
fn one_sample_is_one() {
    let mut s = FlameState::new(true);
    s.update(Msg::Profile(profile(&[sample(
        &process(1, "app"),
        1,
        "main",
        1,
    )])));
    s.update(Msg::Status(Status {
        samples: 1,
        ..status()
    }));
    let shown = screen(&s, 120, 40);
    assert!(shown.contains("\n1 sample · 100.0% of all · "), "{shown}");
    assert!(shown.contains(" · 1 sample · "), "{shown}");
    assert!(!shown.contains("1 samples"), "{shown}");
    assert_eq!(weighed(Weight::Micros, 1), "1 µs");
    assert_eq!(weighed(Weight::Samples, 1_234), "1,234 samples");
}

#[test]
fn help() {
    for (w, h) in SIZES {
        let mut s = state(w, h);
        press(&mut s, KeyCode::Char('?'));
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&s, w, h));
        press(&mut s, KeyCode::Char('?'));
        assert!(!s.help);
    }
}

#[test]
fn empty() {
    let live = FlameState::new(true);
    assert!(screen(&live, 80, 24).contains("waiting for samples…"));
    let replay = FlameState::new(false);
    assert!(screen(&replay, 80, 24).contains("no samples"));
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut s = state(80, 24);
    assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
    press(&mut s, KeyCode::Char('/'));
    assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
}

#[test]
fn backspace_zooms_out_to_the_previous_zoom() {
    let mut s = state(80, 24);
    keys(&mut s, &[KeyCode::Up, KeyCode::Enter]);
    assert_eq!(s.zoomed(), ["app-4242"]);
    keys(&mut s, &[KeyCode::Up, KeyCode::Enter]);
    assert_eq!(s.zoomed(), ["app-4242", "_start"]);
    keys(&mut s, &[KeyCode::Backspace]);
    assert_eq!(s.zoomed(), ["app-4242"]);
    keys(&mut s, &[KeyCode::Esc]);
    assert!(s.zoomed().is_empty());
    keys(&mut s, &[KeyCode::Esc]);
    assert!(s.zoomed().is_empty(), "nothing above all");
}

#[test]
fn moves_follow_the_tree() {
    let mut s = state(80, 24);
    keys(&mut s, &TO_HANDLE);
    keys(&mut s, &[KeyCode::Up]);
    // handle's widest callee; parse_request and render_page tie at 30,
    // and parse_request is the leftmost.
    assert_eq!(s.selected().last(), Some(&"parse_request"));
    keys(&mut s, &[KeyCode::Left]);
    assert_eq!(s.selected().last(), Some(&"compute_checksum"));
    keys(&mut s, &[KeyCode::Left]);
    assert_eq!(s.selected().last(), Some(&"compute_checksum"), "leftmost");
    keys(&mut s, &[KeyCode::Right, KeyCode::Right, KeyCode::Right]);
    // Past handle's callees to the worker thread's frame at the same depth.
    assert_eq!(
        s.selected(),
        [
            "app-4242",
            "clone3",
            "start_thread",
            "worker_loop",
            "flush_queue",
            "write",
            "entry_SYSCALL_64"
        ]
    );
    keys(&mut s, &[KeyCode::Down, KeyCode::Char('j')]);
    assert_eq!(s.selected().last(), Some(&"flush_queue"));
    keys(&mut s, &[KeyCode::Char('i'), KeyCode::Down]);
    assert_eq!(s.selected().last(), Some(&"write"), "icicle: callees below");
}

#[test]
fn callees_of_one_name_are_told_apart_by_module() {
    let app = process(1, "app");
    let init = |module: &str| StackFrame {
        function: "init".to_owned(),
        module: module.to_owned(),
        kernel: false,
    };
    let mut samples = Vec::new();
    for module in ["/usr/lib/liba.so", "/usr/lib/libb.so"] {
        samples.push(Sample {
            stack: fold::stack(vec![frame("main", "/usr/bin/app"), init(module)]),
            ..sample(&app, 1, "main", 10)
        });
    }
    let mut s = FlameState::new(true);
    s.update(Msg::Profile(profile(&samples)));
    keys(
        &mut s,
        &[KeyCode::Up, KeyCode::Up, KeyCode::Up, KeyCode::Right],
    );
    let view = s.view(80);
    assert_eq!(s.tree().node(view.selected).frame, init("/usr/lib/libb.so"));
}

#[test]
fn next_match_goes_left_to_right() {
    let mut s = state(80, 24);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "checksum");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.selected().last(), Some(&"compute_checksum"));
    assert_eq!(s.selected()[1], "_start");
    press(&mut s, KeyCode::Char('n'));
    assert_eq!(s.selected()[1], "clone3");
    press(&mut s, KeyCode::Char('n'));
    assert_eq!(s.selected()[1], "_start", "wraps around");
}

#[test]
fn selection_and_zoom_survive_more_samples() {
    let mut s = state(80, 24);
    keys(&mut s, &TO_HANDLE);
    keys(&mut s, &[KeyCode::Enter, KeyCode::Up, KeyCode::Left]);
    let selected: Vec<String> = s.selected().iter().map(|n| n.to_string()).collect();
    assert_eq!(selected.last().unwrap(), "compute_checksum");
    let mut more = samples();
    let app = more[0].process.clone();
    // A new callee that sorts first under handle, and more of everything.
    more.push(sample(
        &app,
        4242,
        "_start;__libc_start_main;main;run;handle;accept_conn",
        40,
    ));
    more.extend(samples());
    s.update(Msg::Profile(profile(&more)));
    assert_eq!(s.selected(), selected);
    assert_eq!(s.zoomed().last(), Some(&"handle"));
    let view = s.view(80);
    assert_eq!(
        s.tree().node(view.selected).frame.function,
        "compute_checksum"
    );
    assert_eq!(s.tree().node(view.selected).total, 50);

    // Gone from the next profile: its nearest remaining caller stands in.
    let without = |gone: &str| -> Vec<Sample> {
        samples()
            .into_iter()
            .filter(|x| !x.stack.iter().any(|f| f.function == gone))
            .collect()
    };
    let function = |s: &FlameState, id: NodeId| s.tree().node(id).frame.function.clone();
    s.update(Msg::Profile(profile(&without("compute_checksum"))));
    let view = s.view(80);
    assert_eq!(function(&s, view.zoom), "handle");
    assert_eq!(function(&s, view.selected), "handle");
    // The whole main thread gone: the worker keeps the process.
    s.update(Msg::Profile(profile(&without("handle"))));
    let view = s.view(80);
    assert_eq!(function(&s, view.zoom), "app-4242");
    assert_eq!(function(&s, view.selected), "app-4242");
    // And back: the remembered frames are found again.
    s.update(Msg::Profile(profile(&samples())));
    let view = s.view(80);
    assert_eq!(function(&s, view.selected), "compute_checksum");
}

#[test]
fn t_splits_the_roots_by_thread() {
    let mut s = state(80, 24);
    keys(&mut s, &TO_HANDLE);
    keys(&mut s, &[KeyCode::Char('t')]);
    assert!(s.per_thread());
    let roots: Vec<&str> = s
        .tree()
        .node(FlameTree::ROOT)
        .children
        .iter()
        .map(|&c| s.tree().node(c).frame.function.as_str())
        .collect();
    assert_eq!(roots, ["app-4242/4242", "app-4242/4243", "logger-77/77"]);
    assert_eq!(
        s.selected()[0],
        "app-4242/4242",
        "the thread that has the path"
    );
    assert_eq!(s.selected().last(), Some(&"handle"));
    assert!(screen(&s, 80, 24).contains("per thread"));
    keys(&mut s, &[KeyCode::Char('t')]);
    assert_eq!(s.selected()[0], "app-4242");

    let mut unsplit = FlameState::new(true);
    let mut one = samples().remove(0);
    one.tid = None;
    unsplit.update(Msg::Profile(profile(&[one])));
    keys(&mut unsplit, &[KeyCode::Char('t')]);
    assert!(!unsplit.per_thread());
    assert!(screen(&unsplit, 80, 24).contains("no per-thread samples"));
}

#[test]
fn i_puts_the_root_on_top() {
    let mut s = state(80, 24);
    let rows =
        |s: &FlameState| -> Vec<String> { screen(s, 80, 24).lines().map(str::to_owned).collect() };
    // The flame area ends above the selected-frame line and the status bar.
    assert!(rows(&s)[21].starts_with("all▒"), "{}", rows(&s)[21]);
    assert!(!rows(&s)[0].starts_with("all"));
    keys(&mut s, &[KeyCode::Char('i')]);
    assert!(s.inverted());
    assert!(rows(&s)[0].starts_with("all▒"), "{}", rows(&s)[0]);
    assert!(!rows(&s)[21].starts_with("all"));
}

#[test]
fn kernel_and_user_frames_differ_in_colour() {
    let s = state(80, 24);
    let buf = draw(&s, 80, 24);
    let shown = text(&buf);
    let bg = |name: &str| buf[position(&shown, name)].bg;
    assert_ne!(bg("entry_S"), bg("parse_req"));
    assert_ne!(bg("entry_S"), bg("__libc_st"));
    assert_ne!(bg("parse_req"), bg("__libc_st"));
}

#[test]
fn a_deep_selection_stays_in_view() {
    let (w, h) = (80, 8);
    let mut s = state(w, h);
    keys(&mut s, &TO_HANDLE);
    // parse_request, render_page, write, then down into the kernel.
    keys(&mut s, &[KeyCode::Up, KeyCode::Right, KeyCode::Up]);
    keys(&mut s, &[KeyCode::Up; 4]);
    assert_eq!(s.selected().last(), Some(&"vfs_write"));
    let buf = draw(&s, w, h);
    let flame_rows = 0..h - 2;
    let selected = flame_rows
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&p| buf[p].modifier.contains(Modifier::REVERSED))
        .count();
    assert!(selected > 0, "{}", text(&buf));
}

#[test]
fn callees_stay_within_their_callers() {
    let s = state(80, 24);
    let tree = s.tree();
    for width in [1, 7, 80, 333] {
        for zoom in [FlameTree::ROOT, tree.find_path(&["app-4242"]).unwrap()] {
            let bars = layout(tree, zoom, width);
            for bar in &bars {
                assert!(bar.width > 0 && bar.x + bar.width <= width);
                let Some(parent) = tree.node(bar.node).parent else {
                    continue;
                };
                let up = bars.iter().find(|b| b.node == parent).unwrap();
                assert!(up.x <= bar.x && bar.x + bar.width <= up.x + up.width);
            }
        }
    }
}

#[test]
fn numbers() {
    assert_eq!(grouped(0), "0");
    assert_eq!(grouped(999), "999");
    assert_eq!(grouped(12_345), "12,345");
    assert_eq!(grouped(1_234_567), "1,234,567");
    assert_eq!(clock(Duration::from_secs(12)), "00:12");
    assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    assert_eq!(first_level(3, 10, 20), 0);
    assert_eq!(first_level(25, 30, 22), 6);
    assert_eq!(first_level(30, 30, 22), 9);
    assert_eq!(first_level(7, 30, 1), 7);
}
