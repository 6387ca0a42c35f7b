//! The command-line contract, driven the way scripts will drive it: two real
//! processes pairing on loopback (or across network namespaces), bad inputs,
//! exit codes and messages.

use crate::common::pairing::Pairing;
use crate::common::*;
use qrpair::qr::{render_qr, EcLevel};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn loopback() -> Vec<&'static str> {
    vec!["--bind", "127.0.0.1"]
}

/// Offerer and answerer pipe `a` and `b` at each other; returns what each
/// side printed on stdout after both exit 0.
fn pair_pipe_through_pngs(sb: &Sandbox, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (off, ans) = Pairing::new(sb).both(&["--pipe"]).both(&loopback()).inputs(a, b).succeed();
    (off.stdout, ans.stdout)
}

#[test]
fn two_processes_pair_through_png_files_and_pipe_1mib_each_way() {
    let sb = Sandbox::new();
    let a = random_bytes(1 << 20, 1);
    let b = random_bytes(1 << 20, 2);
    let (got_by_offerer, got_by_answerer) = pair_pipe_through_pngs(&sb, &a, &b);
    assert_eq!(sha256(&got_by_answerer), sha256(&a), "offerer → answerer bytes differ");
    assert_eq!(sha256(&got_by_offerer), sha256(&b), "answerer → offerer bytes differ");
    let offer_err = sb.stderr("offerer");
    assert!(offer_err.contains("token: qrp:"), "{offer_err}");
    assert!(offer_err.contains("saved to offer.png"), "{offer_err}");
    assert_no_temp_files(sb.dir.path());
}

#[test]
fn pipe_half_close_lets_one_side_send_nothing() {
    let sb = Sandbox::new();
    let a = random_bytes(300_000, 3);
    let (got_by_offerer, got_by_answerer) = pair_pipe_through_pngs(&sb, &a, b"");
    assert_eq!(got_by_answerer, a);
    assert!(got_by_offerer.is_empty());
}

#[test]
fn two_processes_pair_through_text_tokens() {
    let sb = Sandbox::new();
    let a = random_bytes(1 << 20, 4);
    let b = random_bytes(1 << 20, 5);
    // The offerer waits for a file holding the answer token; the answerer is
    // given the offer token on its command line.
    let mut offer_args = vec!["offer", "--pipe", "--qr-out", "offer.png", "--answer", "answer-token.txt"];
    offer_args.extend(loopback());
    let offerer = sb.spawn(sb.cmd(&offer_args), &a, "offerer");
    let offer_token = token_in(&sb.wait_for_stderr("offerer", "token: ", LIMIT));
    let mut answer_args = vec!["answer", offer_token.as_str(), "--pipe", "--qr-out", "answer.png"];
    answer_args.extend(loopback());
    let answerer = sb.spawn(sb.cmd(&answer_args), &b, "answerer");
    let answer_token = token_in(&sb.wait_for_stderr("answerer", "token: ", LIMIT));
    // Written in two steps, as a person pasting into an editor might.
    let tmp = sb.write(".answer-token.partial", format!("{answer_token}\n").as_bytes());
    std::fs::rename(tmp, sb.path("answer-token.txt")).unwrap();
    let ans = sb.finish(answerer, "answerer", LIMIT);
    let off = sb.finish(offerer, "offerer", LIMIT);
    assert_eq!((off.code(), ans.code()), (0, 0), "offerer:\n{}\nanswerer:\n{}", off.stderr, ans.stderr);
    assert_eq!(sha256(&ans.stdout), sha256(&a));
    assert_eq!(sha256(&off.stdout), sha256(&b));
}

#[test]
fn offerer_watching_a_folder_takes_the_first_new_image_with_an_answer() {
    let sb = Sandbox::new();
    let shots = sb.path("Screenshots");
    std::fs::create_dir(&shots).unwrap();
    // Already there before the offer: must be ignored even though it is an image.
    std::fs::write(shots.join("old.png"), render_qr(b"https://example.com/old", EcLevel::M).unwrap().to_png(4))
        .unwrap();
    let mut offer_args = vec!["offer", "--pipe", "--qr-out", "offer.png", "--answer", "Screenshots"];
    offer_args.extend(loopback());
    let offerer = sb.spawn(sb.cmd(&offer_args), b"from offerer\n", "offerer");
    sb.wait_for_file("offer.png", LIMIT);
    sb.wait_for_stderr("offerer", "waiting for a new image", LIMIT);
    // New, but not an answer: skipped with a note, not fatal.
    std::fs::write(shots.join("cat.png"), render_qr(b"https://example.com/cat", EcLevel::M).unwrap().to_png(4))
        .unwrap();
    sb.wait_for_stderr("offerer", "skipping", LIMIT);
    let mut answer_args = vec!["answer", "offer.png", "--pipe", "--qr-out", "Screenshots/Screenshot 1.png"];
    answer_args.extend(loopback());
    let answerer = sb.spawn(sb.cmd(&answer_args), b"from answerer\n", "answerer");
    let ans = sb.finish(answerer, "answerer", LIMIT);
    let off = sb.finish(offerer, "offerer", LIMIT);
    assert_eq!((off.code(), ans.code()), (0, 0), "offerer:\n{}\nanswerer:\n{}", off.stderr, ans.stderr);
    assert_eq!(off.stdout, b"from answerer\n");
    assert_eq!(ans.stdout, b"from offerer\n");
    assert!(off.stderr.contains("it says: https://example.com/cat"), "{}", off.stderr);
}

#[test]
fn chat_marks_the_peers_lines_neutralises_escapes_and_ends_when_the_peer_leaves() {
    let sb = Sandbox::new();
    let mut offer_args = vec!["offer", "--chat", "--qr-out", "offer.png", "--answer", "answer.png"];
    offer_args.extend(loopback());
    let offerer = sb.spawn(sb.cmd(&offer_args), b"hi there\n\x1b[31mred?\nno newline at the end", "offerer");
    sb.wait_for_file("offer.png", LIMIT);
    let mut answer_args = vec!["answer", "offer.png", "--chat", "--qr-out", "answer.png"];
    answer_args.extend(loopback());
    // The answerer never types and never closes its input: the offerer
    // leaving must still end its chat.
    let answerer = sb.spawn_open_stdin(sb.cmd(&answer_args), "answerer");
    let off = sb.finish(offerer, "offerer", LIMIT);
    let ans = sb.finish(answerer, "answerer", LIMIT);
    assert_eq!((off.code(), ans.code()), (0, 0), "offerer:\n{}\nanswerer:\n{}", off.stderr, ans.stderr);
    assert_eq!(
        String::from_utf8(ans.stdout).unwrap(),
        "peer> hi there\npeer> \u{fffd}[31mred?\npeer> no newline at the end\n-- the peer left the chat\n"
    );
}

fn assert_bad_input(run: &Run, needle: &str) {
    assert_eq!(run.code(), 3, "expected exit 3; stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // The code shown before the failure may precede it; the error itself is
    // the last line, and a single one.
    let line = run.stderr.trim_end().lines().last().unwrap_or("");
    assert!(
        line.starts_with("qrpair: ") && line.contains(needle),
        "expected {needle:?} in the last line of:\n{}",
        run.stderr
    );
}

fn answer_args(source: &str) -> Vec<&str> {
    vec!["answer", source, "--pipe", "--bind", "127.0.0.1", "--timeout", "5s"]
}

#[test]
fn text_file_given_as_image_is_refused() {
    let sb = Sandbox::new();
    sb.write("notes.txt", b"this is a shopping list, not a picture\n");
    let run = sb.run(&answer_args("notes.txt"), b"", LIMIT);
    assert_bad_input(&run, "notes.txt is not an image qrpair can read");
    assert!(!sb.path("qrpair-answer.png").exists(), "no answer may be written for a bad offer");
}

#[test]
fn image_without_a_code_is_refused() {
    let sb = Sandbox::new();
    let img = image::GrayImage::from_fn(800, 600, |x, y| image::Luma([((x * 3 + y * 5) % 251) as u8]));
    img.save(sb.path("photo.png")).unwrap();
    let run = sb.run(&answer_args("photo.png"), b"", LIMIT);
    assert_bad_input(&run, "no QR code found in photo.png");
}

#[test]
fn qr_from_another_app_is_refused_and_quoted() {
    let sb = Sandbox::new();
    sb.write("url.png", &render_qr(b"https://example.com/menu", EcLevel::M).unwrap().to_png(6));
    let run = sb.run(&answer_args("url.png"), b"", LIMIT);
    assert_bad_input(&run, "not a qrpair payload — it says: https://example.com/menu");
}

#[test]
fn truncated_token_is_refused() {
    let sb = Sandbox::new();
    let offer =
        sb.run(&["offer", "--pipe", "--bind", "127.0.0.1", "--timeout", "1s", "--answer", "never.png"], b"", LIMIT);
    let token = token_in(&offer.stderr);
    for cut in [token.len() - 1, token.len() - 7, token.len() / 2] {
        let run = sb.run(&answer_args(&token[..cut]), b"", LIMIT);
        assert_eq!(run.code(), 3, "cut {cut}: {}", run.stderr);
        assert!(
            run.stderr.contains("token is damaged") || run.stderr.contains("token is incomplete"),
            "cut {cut}: {}",
            run.stderr
        );
    }
}

#[test]
fn offer_given_where_an_answer_is_expected_is_refused() {
    let sb = Sandbox::new();
    // The offerer is handed its own offer back: a classic mix-up.
    let run = sb.run(
        &["offer", "--pipe", "--bind", "127.0.0.1", "--qr-out", "offer.png", "--answer", "offer.png"],
        b"",
        LIMIT,
    );
    assert_bad_input(&run, "this is an offer, but an answer was expected");
}

#[test]
fn answer_given_where_an_offer_is_expected_is_refused() {
    let sb = Sandbox::new();
    Pairing::new(&sb).both(&["--pipe"]).both(&loopback()).succeed();
    let run = sb.run(&answer_args("answer.png"), b"", LIMIT);
    assert_bad_input(&run, "this is an answer, but an offer was expected");
}

#[test]
fn missing_file_is_refused() {
    let sb = Sandbox::new();
    let run = sb.run(&answer_args("nowhere.png"), b"", LIMIT);
    assert_bad_input(&run, "nowhere.png does not exist");
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new();
    let run = sb.run(&["offer", "--timeout", "banana"], b"", LIMIT);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("--timeout"), "{}", run.stderr);
    let run = sb.run(&["offer", "--bind", "not-an-ip"], b"", LIMIT);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    let run = sb.run(&["answer"], b"", LIMIT);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    let run = sb.run(&["offer", "--mtu", "100"], b"", LIMIT);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("--mtu") && run.stderr.contains("576"), "{}", run.stderr);
}

#[test]
fn offer_without_answer_source_or_terminal_is_a_usage_error() {
    let sb = Sandbox::new();
    let run = sb.run(&["offer", "--pipe", "--bind", "127.0.0.1"], b"", LIMIT);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("no --answer given and no terminal to ask on"), "{}", run.stderr);
    // The offer was still shown and written before asking.
    assert!(sb.path("qrpair-offer.png").exists());
}

#[test]
fn waiting_for_an_answer_times_out_with_exit_4() {
    let sb = Sandbox::new();
    let started = std::time::Instant::now();
    let run =
        sb.run(&["offer", "--pipe", "--bind", "127.0.0.1", "--timeout", "2s", "--answer", "never.png"], b"", LIMIT);
    assert_eq!(run.code(), 4, "{}", run.stderr);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[test]
fn answerer_whose_answer_is_never_read_times_out_with_exit_4() {
    let sb = Sandbox::new();
    let offerer = start_offerer(&sb, "offerer", 1, "offer.png", "never.png");
    let run = sb.run(&["answer", "offer.png", "--pipe", "--bind", "127.0.0.1", "--timeout", "3s"], b"", LIMIT);
    assert_eq!(run.code(), 4, "{}", run.stderr);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    let off = sb.finish(offerer, "offerer", LIMIT);
    assert_eq!(off.code(), 4, "{}", off.stderr);
}

#[test]
fn decode_reports_kind_size_version_and_candidates() {
    let sb = Sandbox::new();
    let offer =
        sb.run(&["offer", "--pipe", "--bind", "127.0.0.1", "--timeout", "1s", "--answer", "never.png"], b"", LIMIT);
    assert_eq!(offer.code(), 4);
    let run = sb.run(&["decode", "--json", "qrpair-offer.png"], b"", LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let text = String::from_utf8(run.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["kind"], "offer");
    // Compact form, one IPv4 host candidate: header + fingerprint + 6 bytes.
    assert_eq!(v["payload_bytes"], 1 + 32 + 6, "{v}");
    assert_eq!(v["qr_version"], 3, "{v}");
    assert_eq!(v["form"], "compact");
    assert_eq!(v["made_by_qrpair"], true);
    assert_eq!(v["ec_level"], "M");
    assert!(v["fingerprint"].as_str().unwrap().starts_with("sha-256 "));
    let cands = v["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 1, "{v}");
    assert_eq!(cands[0]["address"], "127.0.0.1");
    assert_eq!(cands[0]["protocol"], "udp");
    assert_eq!(cands[0]["type"], "host");
    assert!(cands[0]["port"].as_u64().unwrap() > 0);

    // The token says the same as the image.
    let token = token_in(&offer.stderr);
    let by_token = sb.run(&["decode", "--json", &token], b"", LIMIT);
    let w: serde_json::Value = serde_json::from_slice(&by_token.stdout).unwrap();
    assert_eq!(
        (w["kind"].clone(), w["payload_bytes"].clone(), w["fingerprint"].clone()),
        (v["kind"].clone(), v["payload_bytes"].clone(), v["fingerprint"].clone())
    );

    let human = sb.run(&["decode", "qrpair-offer.png"], b"", LIMIT);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("kind: offer") && text.contains("127.0.0.1:") && text.contains("EC M"), "{text}");
}

#[test]
fn decode_raw_returns_the_exact_bytes_of_any_qr_code() {
    let sb = Sandbox::new();
    let binary: Vec<u8> = (0..=255u8).rev().chain(0..=40u8).collect();
    for (name, payload) in [
        ("url.png", b"https://example.com/?q=1&r=2".to_vec()),
        ("wifi.png", b"WIFI:T:WPA;S:home;P:secret;;".to_vec()),
        ("bin.png", binary),
    ] {
        sb.write(name, &render_qr(&payload, EcLevel::L).unwrap().to_png(5));
        let run = sb.run(&["decode", "--raw", name], b"", LIMIT);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        assert_eq!(run.stdout, payload, "{name}");
    }
    // Without --raw, a foreign code is a bad input.
    let run = sb.run(&["decode", "url.png"], b"", LIMIT);
    assert_bad_input(&run, "it says: https://example.com/?q=1&r=2");
}

#[test]
fn help_documents_exit_codes() {
    let sb = Sandbox::new();
    for args in [vec!["--help"], vec!["offer", "--help"], vec!["answer", "--help"]] {
        let run = sb.run(&args, b"", LIMIT);
        assert_eq!(run.code(), 0);
        let text = String::from_utf8(run.stdout).unwrap();
        for needle in ["Exit codes:", "2  usage error", "3  bad input", "4  connection failed"] {
            assert!(text.contains(needle), "{args:?} help lacks {needle:?}");
        }
    }
}

#[test]
fn demo_pairs_and_exits_0() {
    let sb = Sandbox::new();
    let run = sb.run(&["demo"], b"", LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.contains("offerer → answerer: \"hello from the offering peer\""), "{text}");
    assert!(text.contains("answerer → offerer: \"hello from the answering peer\""), "{text}");
    assert!(text.contains("data channel open") && text.trim_end().ends_with("demo ok"), "{text}");
}

#[test]
fn decode_raw_reads_photos_of_codes_made_by_other_tools() {
    let sb = Sandbox::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zxing");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let png = entry.unwrap().path();
        if png.extension().and_then(|e| e.to_str()) != Some("png") {
            continue;
        }
        let expected = std::fs::read(png.with_extension("txt")).unwrap();
        let run = sb.run(&["decode", "--raw", png.to_str().unwrap()], b"", LIMIT);
        assert_eq!(run.code(), 0, "{}: {}", png.display(), run.stderr);
        assert_eq!(run.stdout, expected, "{}", png.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures");
}

#[test]
fn offer_is_read_from_png_jpeg_webp_gif_and_bmp() {
    let sb = Sandbox::new();
    let offer =
        sb.run(&["offer", "--pipe", "--bind", "127.0.0.1", "--timeout", "1s", "--answer", "never.png"], b"", LIMIT);
    assert_eq!(offer.code(), 4, "{}", offer.stderr);
    let img = image::open(sb.path("qrpair-offer.png")).unwrap().to_rgb8();
    let reference = sb.run(&["decode", "--raw", "qrpair-offer.png"], b"", LIMIT).stdout;
    assert_eq!(reference.len(), 39);
    for ext in ["jpg", "webp", "gif", "bmp"] {
        let name = format!("offer.{ext}");
        img.save(sb.path(&name)).unwrap();
        let run = sb.run(&["decode", "--raw", &name], b"", LIMIT);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        assert_eq!(run.stdout, reference, "{name}");
    }
}

/// Starts an offerer bound to `n` loopback addresses that waits for
/// `answer_name`; returns once its PNG exists.
fn start_offerer(sb: &Sandbox, tag: &str, n: usize, qr_out: &str, answer_name: &str) -> std::process::Child {
    let addrs: Vec<String> = (1..=n).map(|i| format!("127.0.0.{i}")).collect();
    let mut args = vec!["offer", "--pipe", "--qr-out", qr_out, "--answer", answer_name, "--timeout", "30s"];
    for a in &addrs {
        args.extend(["--bind", a.as_str()]);
    }
    let child = sb.spawn(sb.cmd(&args), b"", tag);
    sb.wait_for_file(qr_out, LIMIT);
    child
}

fn decode_json(sb: &Sandbox, source: &str) -> serde_json::Value {
    let run = sb.run(&["decode", "--json", source], b"", LIMIT);
    assert_eq!(run.code(), 0, "{source}: {}", run.stderr);
    serde_json::from_slice(&run.stdout).unwrap()
}

#[test]
fn offers_and_answers_with_1_to_4_host_candidates_meet_the_size_targets() {
    let sb = Sandbox::new();
    for n in 1..=4usize {
        let offer_png = format!("offer{n}.png");
        let answer_png = format!("answer{n}.png");
        let offerer = start_offerer(&sb, &format!("offerer{n}"), n, &offer_png, &answer_png);
        let offer = decode_json(&sb, &offer_png);
        assert_eq!(offer["payload_bytes"], 1 + 32 + 6 * n as u64, "{offer}");
        assert!(offer["qr_version"].as_u64().unwrap() <= 4, "{offer}");
        assert_eq!(offer["candidates"].as_array().unwrap().len(), n);
        let mut args =
            vec!["answer".to_string(), offer_png.clone(), "--pipe".into(), "--qr-out".into(), answer_png.clone()];
        for i in 1..=n {
            args.extend(["--bind".to_string(), format!("127.0.0.{i}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let answerer = sb.spawn(sb.cmd(&args), b"", &format!("answerer{n}"));
        sb.wait_for_file(&answer_png, LIMIT);
        let answer = decode_json(&sb, &answer_png);
        assert_eq!(answer["kind"], "answer");
        assert_eq!(answer["payload_bytes"].as_u64().unwrap(), offer["payload_bytes"].as_u64().unwrap() + 4, "{answer}");
        assert!(answer["answers_offer"].as_str().is_some_and(|t| t.len() == 8), "{answer}");
        let (a, o) =
            (sb.finish(answerer, &format!("answerer{n}"), LIMIT), sb.finish(offerer, &format!("offerer{n}"), LIMIT));
        assert_eq!((o.code(), a.code()), (0, 0), "{n} candidates\n{}\n{}", o.stderr, a.stderr);
    }
}

#[test]
fn an_answer_made_for_another_offer_is_refused() {
    let sb = Sandbox::new();
    let first = start_offerer(&sb, "first", 1, "first-offer.png", "first-answer.png");
    let second = start_offerer(&sb, "second", 1, "second-offer.png", "second-answer.png");
    // The answer to the second offer reaches the first offerer.
    let answerer = sb.spawn(
        sb.cmd(&[
            "answer",
            "second-offer.png",
            "--pipe",
            "--bind",
            "127.0.0.1",
            "--qr-out",
            "second-answer.png",
            "--timeout",
            "5s",
        ]),
        b"",
        "answerer",
    );
    sb.wait_for_file("second-answer.png", LIMIT);
    std::fs::copy(sb.path("second-answer.png"), sb.path("first-answer.png")).unwrap();
    let refused = sb.finish(first, "first", LIMIT);
    assert_bad_input(&refused, "this answer belongs to a different offer");
    let _ = sb.finish(answerer, "answerer", LIMIT);
    let _ = sb.finish(second, "second", LIMIT);
}

#[test]
fn every_chromium_description_fits_100_bytes_and_qr_version_6() {
    let sb = Sandbox::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sdp");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("chromium") {
            continue;
        }
        let v = decode_json(&sb, path.to_str().unwrap());
        assert!(v["payload_bytes"].as_u64().unwrap() <= 100, "{name}: {v}");
        assert!(v["qr_version"].as_u64().unwrap() <= 6, "{name}: {v}");
        assert_eq!(v["made_by_qrpair"], false);
        // The same through a real QR image made by `encode`.
        let png = format!("{name}.png");
        let enc = sb.run(&["encode", path.to_str().unwrap(), "--qr-out", &png], b"", LIMIT);
        assert_eq!(enc.code(), 0, "{}", enc.stderr);
        let from_image = decode_json(&sb, &png);
        assert_eq!(
            (from_image["payload_bytes"].clone(), from_image["form"].clone()),
            (v["payload_bytes"].clone(), "compact".into())
        );
        let sdp = sb.run(&["decode", "--sdp", &png], b"", LIMIT);
        let text = String::from_utf8(sdp.stdout).unwrap();
        assert!(
            text.starts_with("v=0\r\n") && text.contains("a=ice-pwd:") && text.contains("webrtc-datachannel"),
            "{text}"
        );
        seen += 1;
    }
    assert!(seen >= 8);
}

/// Firefox lists an active TCP candidate (port 9, never checked) per
/// interface; left out, its description fits where Chromium's does (it
/// packed to 148 B, QR version 8, with them).
#[test]
fn firefox_descriptions_fit_qr_version_6() {
    let sb = Sandbox::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sdp");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("firefox") {
            continue;
        }
        let original = std::fs::read_to_string(&path).unwrap();
        assert!(original.contains("tcptype active"), "{name}: not the description this test is about");
        let png = format!("{name}.png");
        let enc = sb.run(&["encode", path.to_str().unwrap(), "--qr-out", &png], b"", LIMIT);
        assert_eq!(enc.code(), 0, "{}", enc.stderr);
        let v = decode_json(&sb, &png);
        assert_eq!(v["form"], "compact", "{name}: {v}");
        assert!(v["qr_version"].as_u64().unwrap() <= 6, "{name}: {v}");
        assert!(v["payload_bytes"].as_u64().unwrap() <= 106, "{name}: {v}");
        let udp = original.to_lowercase().matches(" udp ").count();
        assert_eq!(v["candidates"].as_array().unwrap().len(), udp, "{name}: {v}");
        seen += 1;
    }
    assert!(seen >= 1);
}

/// `decode --sdp-json`: one line a page's setRemoteDescription takes as is.
#[test]
fn decode_sdp_json_prints_the_description_ready_to_paste() {
    let sb = Sandbox::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sdp");
    for (file, kind) in [("chromium_offer_mdns_1.json", "offer"), ("chromium_answer_ip_1.json", "answer")] {
        let png = format!("{kind}.png");
        let enc = sb.run(&["encode", dir.join(file).to_str().unwrap(), "--qr-out", &png], b"", LIMIT);
        assert_eq!(enc.code(), 0, "{}", enc.stderr);
        let token = enc.stderr.lines().find_map(|l| l.strip_prefix("token: ")).expect("a token").to_string();
        let sdp = sb.run(&["decode", "--sdp", &png], b"", LIMIT);
        for source in [png.as_str(), token.as_str()] {
            let run = sb.run(&["decode", "--sdp-json", source], b"", LIMIT);
            assert_eq!(run.code(), 0, "{}", run.stderr);
            let text = String::from_utf8(run.stdout).unwrap();
            assert_eq!(text.lines().count(), 1, "{text}");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], kind);
            assert_eq!(v["sdp"].as_str().unwrap().as_bytes(), &sdp.stdout[..], "{file} via {source}");
        }
    }
    let both = sb.run(&["decode", "--sdp-json", "--json", "x.png"], b"", LIMIT);
    assert_eq!(both.code(), 2, "{}", both.stderr);
}

#[test]
fn ec_flag_picks_the_level_and_the_smallest_version() {
    let sb = Sandbox::new();
    let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sdp/chromium_offer_mdns_1.json");
    let mut versions = Vec::new();
    for ec in ["L", "M", "Q", "H"] {
        let png = format!("{ec}.png");
        let run = sb.run(&["encode", json.to_str().unwrap(), "--ec", ec, "--qr-out", &png], b"", LIMIT);
        assert_eq!(run.code(), 0, "{}", run.stderr);
        let v = decode_json(&sb, &png);
        assert_eq!(v["ec_level"], ec);
        versions.push(v["qr_version"].as_u64().unwrap());
    }
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    assert!(versions[0] < versions[3], "{versions:?}");
}

#[test]
fn decode_all_lists_every_code_in_a_picture() {
    let sb = Sandbox::new();
    let three = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/screenshots/1080p-three-codes.jpg");
    let run = sb.run(&["decode", "--all", three.to_str().unwrap()], b"", LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let text = String::from_utf8(run.stdout).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains(": qrpair offer, 45 bytes")).count(), 3, "{text}");
    let foreign = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zxing/qrcode-2_14.png");
    let run = sb.run(&["decode", "--all", "--json", foreign.to_str().unwrap()], b"", LIMIT);
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["kind"], "foreign");
    let expected = std::fs::read_to_string(foreign.with_extension("txt")).unwrap();
    assert_eq!(v["text"].as_str().unwrap(), expected);
}

#[test]
fn an_image_on_standard_input_is_a_source() {
    let sb = Sandbox::new();
    let png =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/screenshots/720p-plain.png"))
            .unwrap();
    let run = sb.run(&["decode", "--json", "-"], &png, LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((v["kind"].as_str(), v["payload_bytes"].as_u64()), (Some("offer"), Some(39)));
    let run = sb.run(&["decode", "-"], b"this is not an image or a token\n", LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
}

#[test]
fn answerer_watching_a_folder_takes_the_first_new_offer() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("inbox")).unwrap();
    let offerer = start_offerer(&sb, "offerer", 1, "offer.png", "answer.png");
    let answerer = sb.spawn(
        sb.cmd(&["answer", "--watch", "inbox", "--pipe", "--bind", "127.0.0.1", "--qr-out", "answer.png"]),
        b"hello through a watched folder\n",
        "answerer",
    );
    sb.wait_for_stderr("answerer", "waiting for a new image with the offer", LIMIT);
    std::fs::write(sb.path("inbox/menu.png"), render_qr(b"https://example.com/menu", EcLevel::M).unwrap().to_png(4))
        .unwrap();
    sb.wait_for_stderr("answerer", "skipping", LIMIT);
    std::fs::copy(sb.path("offer.png"), sb.path("inbox/Screenshot.png")).unwrap();
    let ans = sb.finish(answerer, "answerer", LIMIT);
    let off = sb.finish(offerer, "offerer", LIMIT);
    assert_eq!((off.code(), ans.code()), (0, 0), "{}\n{}", off.stderr, ans.stderr);
    assert_eq!(off.stdout, b"hello through a watched folder\n");
}

fn auth_code(stderr: &str) -> String {
    let marker = "Both screens must show the same code: ";
    let at = stderr.find(marker).unwrap_or_else(|| panic!("no authentication code in:\n{stderr}"));
    stderr[at + marker.len()..].lines().next().unwrap().trim().to_string()
}

#[test]
fn both_sides_print_the_same_authentication_code_and_another_pairing_gets_another() {
    let mut codes = Vec::new();
    for round in 0..2 {
        let sb = Sandbox::new();
        let (from_answerer, from_offerer) = pair_pipe_through_pngs(&sb, b"round\n", b"trip\n");
        assert_eq!((from_answerer.as_slice(), from_offerer.as_slice()), (&b"trip\n"[..], &b"round\n"[..]));
        let (o, a) = (auth_code(&sb.stderr("offerer")), auth_code(&sb.stderr("answerer")));
        assert_eq!(o, a, "round {round}: offerer and answerer disagree");
        assert!(o.len() == 7 && o.as_bytes()[3] == b' ', "{o}");
        codes.push(o);
    }
    assert_ne!(codes[0], codes[1], "two pairings printed the same code");
}

#[test]
fn verify_without_a_terminal_is_refused_before_pairing() {
    let sb = Sandbox::new();
    let run = sb.run(&["offer", "--pipe", "--verify", "--bind", "127.0.0.1"], b"", LIMIT);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("--verify needs a terminal"), "{}", run.stderr);
    assert!(!sb.path("qrpair-offer.png").exists(), "no offer may be shown when it cannot be verified");
}

/// Offerer and answerer with stdin pipes the test holds open, so bytes can
/// be written piece by piece and the session stays up.
fn pair_with_open_stdin(sb: &Sandbox) -> (std::process::Child, std::process::Child) {
    let started = Pairing::new(sb).both(&["--pipe"]).both(&loopback()).stdin_open().start();
    sb.wait_for_stderr("offerer", "connected", LIMIT);
    sb.wait_for_stderr("answerer", "connected", LIMIT);
    (started.offerer, started.answerer)
}

fn wait_for_stdout(sb: &Sandbox, tag: &str, want: &[u8], limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let got = std::fs::read(sb.path(&format!("{tag}.stdout"))).unwrap_or_default();
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{tag} printed {got:?}, not {want:?}, within {limit:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn pipe_delivers_bytes_without_a_newline_at_once_both_ways() {
    use std::io::Write;
    let sb = Sandbox::new();
    let (mut offerer, mut answerer) = pair_with_open_stdin(&sb);
    let (mut to_offerer, mut to_answerer) = (offerer.stdin.take().unwrap(), answerer.stdin.take().unwrap());
    to_offerer.write_all(b"ping").unwrap();
    to_offerer.flush().unwrap();
    // Before: the bytes sat in the answerer's stdout buffer until a newline
    // or the end of the session.
    let took = wait_for_stdout(&sb, "answerer", b"ping", Duration::from_secs(5));
    to_answerer.write_all(b"pong?").unwrap();
    to_answerer.flush().unwrap();
    let back = wait_for_stdout(&sb, "offerer", b"pong?", Duration::from_secs(5));
    eprintln!("no-newline delivery: {took:?} one way, {back:?} back");
    drop(to_offerer);
    drop(to_answerer);
    assert_eq!(sb.finish(offerer, "offerer", LIMIT).code(), 0);
    assert_eq!(sb.finish(answerer, "answerer", LIMIT).code(), 0);
}

#[test]
fn a_reader_that_stops_early_ends_its_side_quietly_and_the_peer_hears_at_once() {
    use std::io::Write;
    let sb = Sandbox::new();
    // The offerer's stdout is a pipe whose reader reads 10 bytes and leaves.
    let mut offer_args = vec!["offer", "--pipe", "--qr-out", "offer.png", "--answer", "answer.png"];
    offer_args.extend(loopback());
    let mut cmd = sb.cmd(&offer_args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(sb.path("offerer.stderr")).unwrap());
    let mut offerer = cmd.spawn().unwrap();
    let offerer_stdin = offerer.stdin.take().unwrap();
    let mut offerer_stdout = offerer.stdout.take().unwrap();
    sb.wait_for_file("offer.png", LIMIT);
    let mut answer_args = vec!["answer", "offer.png", "--pipe", "--qr-out", "answer.png"];
    answer_args.extend(loopback());
    let mut answerer = sb.spawn_open_stdin(sb.cmd(&answer_args), "answerer");
    let mut to_offerer = answerer.stdin.take().unwrap();
    sb.wait_for_stderr("answerer", "connected", LIMIT);
    let mut first = [0u8; 10];
    to_offerer.write_all(&[7u8; 1000]).unwrap();
    std::io::Read::read_exact(&mut offerer_stdout, &mut first).unwrap();
    drop(offerer_stdout);
    let start = std::time::Instant::now();
    // Keep sending: the next write into the closed pipe breaks it.
    let feeder = std::thread::spawn(move || {
        let block = [8u8; 4096];
        for _ in 0..2000 {
            if to_offerer.write_all(&block).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let ans = sb.finish(answerer, "answerer", Duration::from_secs(10));
    let heard = start.elapsed();
    assert_eq!(ans.code(), 1, "{}", ans.stderr);
    assert!(ans.stderr.contains("the peer stopped, saying: \"its output was closed"), "{}", ans.stderr);
    assert!(heard < Duration::from_secs(5), "the answerer heard after {heard:?}");
    let status = offerer.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", sb.stderr("offerer"));
    drop(offerer_stdin);
    feeder.join().unwrap();
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let sb = Sandbox::new();
    let run = sb.run(&["--version"], b"", LIMIT);
    assert_eq!(run.code(), 0);
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(out.starts_with(&format!("qrpair {}", env!("CARGO_PKG_VERSION"))), "{out}");
    let head = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(out.contains(&format!("(commit {head})")), "{out} does not name {head}");
    }
}

#[test]
fn completions_and_man_page_come_from_the_flag_definitions() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = sb.run(&["completions", shell], b"", LIMIT);
        assert_eq!(run.code(), 0, "{shell}: {}", run.stderr);
        let script = String::from_utf8_lossy(&run.stdout);
        for word in ["offer", "answer", "receive", "qr-out"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let run = sb.run(&["completions", "tcsh"], b"", LIMIT);
    assert_eq!(run.code(), 2, "an unknown shell is a usage error");
    let man = sb.run(&["man"], b"", LIMIT);
    assert_eq!(man.code(), 0, "{}", man.stderr);
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH qrpair"), "{page}");
    assert!(page.contains("offer") && page.contains("answer"), "{page}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `qrpair man | true`: the reader is gone before qrpair writes (the
    // pipe is closed the moment the process starts, long before it has
    // parsed its arguments); that is the end of a pipeline, not a failure.
    use std::process::{Command, Stdio};
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut child = Command::new(bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
