import json

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import sincos
from PIL import Image

from sincos_cli.store.trace import read as load_trace
from sincos_cli.views.animate import gif_delay, palette, pick_frames
from sincos_cli.views.scene import HistoryScene, Style, WindowScene


def gif_frames(path):
    """Each frame composited as a viewer shows it, with its delay."""
    im = Image.open(path)
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append((np.asarray(im.convert("RGB")), im.info["duration"]))
    return im, out


def red_blue(frame):
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    red = (r > 200) & (g < 60) & (b < 60)
    blue = (b > 200) & (r < 60) & (g < 60)
    return int(red.sum()), int(blue.sum())


@pytest.mark.slow
def test_gif_default_path_frames_size_delay_loop(cli, trained_copy):
    res = cli("animate", trained_copy.name, "--quiet")
    assert res.exit_code == 0, res.stderr
    out = trained_copy / "animation.gif"
    assert res.stdout.strip() == str(out)
    im, frames = gif_frames(out)
    assert im.n_frames == 40 and im.size == (640, 480)
    assert im.info["loop"] == 0
    assert {d for _, d in frames} == {100}  # every frame, at the default 10 fps
    for frame, _ in frames[::13]:
        reds, blues = red_blue(frame)
        assert reds > 300 and blues > 100  # truth drawn red, prediction blue dashed
        assert (frame[:5, :5] == 255).all()  # white stays white
    assert not list(trained_copy.glob(".*.tmp"))


def test_every_size_and_max_frames(cli, trained_copy, tmp_path):
    out = tmp_path / "small.gif"
    res = cli("animate", trained_copy.name, "--every", "5", "--size", "320x240", "--fps",
              "20", "--out", out, "--quiet")
    assert res.exit_code == 0, res.stderr
    im, frames = gif_frames(out)
    assert im.n_frames == 8 and im.size == (320, 240)
    assert {d for _, d in frames} == {50}
    res = cli("animate", trained_copy.name, "--max-frames", "7", "--out", out, "--quiet")
    assert Image.open(out).n_frames == 7


def test_pick_frames():
    assert list(pick_frames(10, 3)) == [0, 3, 6, 9]
    thin = pick_frames(100_000, 1, 600)
    assert len(thin) == 600 and thin[0] == 0 and thin[-1] == 99_999
    assert np.all(np.diff(thin) > 0)


def test_mp4_probed_through_imageio_ffmpeg(cli, trained_copy, tmp_path):
    out = tmp_path / "clip.mp4"
    res = cli("animate", trained_copy.name, "--out", out, "--fps", "20", "--size", "321x241",
              "--quiet")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == str(out)
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == 40 and secs == pytest.approx(2.0, abs=0.1)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["codec"] == "h264" and tuple(meta["size"]) == (322, 242)  # padded even
    first = np.frombuffer(next(reader), np.uint8).reshape(242, 322, 3)
    reader.close()
    reds, blues = red_blue(first)
    assert reds > 100 and blues > 30
    data = out.read_bytes()
    assert data[4:8] == b"ftyp"
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart


def test_stdout_output(tmp_path, trained_copy):
    out = sincos("animate", trained_copy.name, "--out", "-", "--every", "10", "--quiet",
                 env={"SINCOS_RUNS_DIR": str(trained_copy.parent)}, text=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"GIF89a") and out.stdout.endswith(b";")
    assert Image.open(__import__("io").BytesIO(out.stdout)).n_frames == 4
    assert not list(trained_copy.glob("animation.*"))


def test_workers_write_the_same_bytes_as_one_process(cli, trained_copy, tmp_path):
    a, b = tmp_path / "a.gif", tmp_path / "b.gif"
    assert cli("animate", trained_copy.name, "--jobs", "1", "--out", a, "-q").exit_code == 0
    assert cli("animate", trained_copy.name, "--jobs", "3", "--out", b, "-q").exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_blitted_frames_equal_a_full_redraw(trained):
    trace = load_trace(trained)
    r = WindowScene(Style(width=400, height=300))
    for i in (0, 1, 17, 39, 5):
        args = [trace[k][i] for k in ("x", "target", "prediction", "step", "loss")]
        assert np.array_equal(r.render(*args), r.render_full(*args))


def test_palette_keeps_plot_colours_exact():
    pal = {tuple(c) for c in palette()}
    assert {(255, 255, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0)} <= pal


@pytest.mark.parametrize("fps,delay,warns", [(10, 10, False), (25, 4, False), (30, 3, True),
                                             (100, 1, True)])
def test_gif_delay(fps, delay, warns):
    d, warning = gif_delay(fps)
    assert d == delay and (warning is not None) == warns


def test_fps_that_gif_cannot_keep_warns(cli, trained_copy, tmp_path):
    res = cli("animate", trained_copy.name, "--fps", "30", "--every", "10", "--out",
              tmp_path / "x.gif")
    assert res.exit_code == 0
    assert "warning: GIF stores delays in 10 ms units" in res.stderr


def test_renders_a_crashed_run_from_what_is_on_disk(cli, trained_copy, tmp_path):
    run = json.loads((trained_copy / "run.json").read_text())
    run.update(status="running", pid=2**22 + 12345)
    (trained_copy / "run.json").write_text(json.dumps(run))
    # as a crash leaves it: 10 whole records and a torn eleventh
    trace_bin = trained_copy / "trace.bin"
    rec = load_trace(trained_copy)["step"].base.dtype.itemsize  # one record's bytes
    data = trace_bin.read_bytes()
    trace_bin.write_bytes(data[:16 + 10 * rec + rec // 2])
    res = cli("animate", trained_copy.name, "--out", tmp_path / "c.gif", "-q")
    assert res.exit_code == 0, res.stderr
    assert Image.open(tmp_path / "c.gif").n_frames == 10


@pytest.mark.parametrize("args,code,needle", [
    (["nope"], 1, "no run 'nope'"),
    (["{run}", "--out", "x.avi"], 2, "unknown suffix '.avi'"),
    (["{run}", "--out", "noext"], 2, "unknown suffix"),
    (["{run}", "--format", "webm"], 2, "--format"),
    (["{run}", "--size", "640"], 2, "WIDTHxHEIGHT"),
    (["{run}", "--size", "0x10"], 2, "WIDTHxHEIGHT"),
    (["{run}", "--fps", "0"], 2, "--fps"),
    (["{run}", "--fps", "-3"], 2, "--fps"),
    (["{run}", "--every", "0"], 2, "--every"),
    (["{run}", "--out", "/nonexistent-dir/x.gif"], 1, "cannot write to /nonexistent-dir"),
])
def test_bad_input(cli, trained_copy, args, code, needle):
    res = cli("animate", *[a.format(run=trained_copy.name) for a in args])
    assert res.exit_code == code, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("Error: ")
    assert needle in res.stderr
    assert res.stdout == ""
    assert not list(trained_copy.glob("animation.*"))


def test_unknown_run_lists_the_runs(cli, trained_copy):
    res = cli("animate", "run-77")
    assert res.exit_code == 1 and trained_copy.name in res.stderr


def test_run_without_trace(cli, trained_copy):
    (trained_copy / "trace.bin").unlink()
    res = cli("animate", trained_copy.name)
    assert res.exit_code == 1 and "no trace" in res.stderr
    assert not list(trained_copy.glob("animation.*"))


def test_damaged_trace(cli, trained_copy):
    (trained_copy / "trace.bin").write_bytes(b"PK\x03\x04garbage, not a trace at all")
    res = cli("animate", trained_copy.name)
    assert res.exit_code == 1 and "is not a sincos trace" in res.stderr


def test_json_describes_the_output(cli, trained_copy, tmp_path):
    res = cli("animate", trained_copy.name, "--every", "4", "--out", tmp_path / "j.gif", "-q",
              "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["frames"] == 10 and out["format"] == "gif" and out["size"] == [640, 480]
    assert out["bytes"] == (tmp_path / "j.gif").stat().st_size and out["fps"] == 10


def test_history_frames_equal_drawing_the_trail_from_scratch(trained):
    from sincos_cli.views.animate import _piece

    trace = load_trace(trained)
    frames = pick_frames(len(trace["step"]), 3)
    scene = HistoryScene(Style(width=400, height=300),
                         (trace["x"][0][0], trace["x"][-1][-1]))
    pieces = []
    for j, i in enumerate(frames):
        pieces.append(_piece(trace, frames, j))
        scene.extend(*pieces[-1])
        if j in (0, 1, 6, len(frames) - 1):
            step, loss = trace["step"][i], trace["loss"][i]
            assert np.array_equal(scene.render(step, loss),
                                  scene.render_scratch(pieces, step, loss))
    # the trail holds every step up to the frame: its last piece ends at the last step
    assert frames[-1] == len(trace["step"]) - 1 and pieces[0][0].shape == (1, 10)


def test_history_view_through_the_cli(cli, trained_copy, tmp_path):
    a, b = tmp_path / "a.gif", tmp_path / "b.gif"
    for out, jobs in ((a, "1"), (b, "3")):
        res = cli("animate", trained_copy.name, "--view", "history", "--jobs", jobs,
                  "--out", out, "-q")
        assert res.exit_code == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()  # workers catch their trails up exactly
    _, frames = gif_frames(a)
    assert len(frames) == 40
    reds = [red_blue(f)[0] for f, _ in frames]
    assert reds[-1] > 3 * reds[0]  # the trail grows
    res = cli("animate", trained_copy.name, "--view", "sideways", "-q")
    assert res.exit_code == 2 and "--view" in res.stderr


def test_each_view_has_its_own_default_file(cli, trained_copy):
    first = cli("animate", trained_copy.name, "-q")
    assert first.exit_code == 0 and first.stdout.strip().endswith("animation.gif")
    window = (trained_copy / "animation.gif").read_bytes()
    hist = cli("animate", trained_copy.name, "--view", "history", "-q")
    assert hist.exit_code == 0 and hist.stdout.strip().endswith("animation-history.gif")
    assert (trained_copy / "animation.gif").read_bytes() == window  # not written over
    assert Image.open(trained_copy / "animation-history.gif").n_frames == 40


def test_frame_titles_count_updates_done_as_the_live_view_does(trained):
    trace = load_trace(trained)
    scene = WindowScene(Style(width=320, height=240, dpi=100))
    last = len(trace["step"]) - 1
    scene.render(*(trace[k][last] for k in ("x", "target", "prediction", "step", "loss")))
    assert scene.title.get_text().startswith(f"step {last + 1} ")  # 40 steps: "step 40"
