"""Races: deterministic HTML under the size limit, GIFs with Pillow, every frame different."""

import base64
import io
import itertools
import re

import numpy as np
import PIL.Image
import pytest
from IPython.display import HTML

from course_lib import course_quadratic, optimizers, run
from course_lib.animation import Race, make_runs, race

RACERS = [
    ("GD", optimizers.gd, {"lr": 0.4}),
    ("momentum", optimizers.momentum, {"lr": 0.05, "gamma": 0.9}),
    ("Adam", optimizers.adam, {"lr": 0.5}),
]


@pytest.fixture(scope="module")
def quadratic_race():
    return race(RACERS, course_quadratic, steps=40)


def _png(data):
    return PIL.Image.open(io.BytesIO(base64.b64decode(data)))


def _frames(html):
    """The player's frames (not the pictures in its <img> and its style)."""
    return [_png(f) for f in re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]*)"', html)]


def _ids(html):
    return set(re.findall(r'<img id="_anim_img(\w+)"', html))


def test_race_is_html_under_one_megabyte_and_plays_once(quadratic_race):
    assert isinstance(quadratic_race, HTML) and isinstance(quadratic_race, Race)
    assert repr(quadratic_race).startswith("<Race of ['GD', 'momentum', 'Adam']: 0.")  # no address
    html = quadratic_race.data
    assert len(html.encode()) <= 1_000_000
    # What the module's docstring says a race weighs (the lessons' five: 0.22–0.39 MB)
    assert 0.2 <= quadratic_race.size_mb <= 0.4
    assert "_anim_img" in html
    assert re.search(r'value="once" id="[^"]*"\s+checked', html)  # plays once, then stops
    frames = _frames(html)
    assert 2 <= len(frames) <= 30
    # the trajectories grow: consecutive frames differ, and the first and last differ most
    arrays = [np.asarray(f.convert("RGBA"), dtype=int) for f in frames]
    assert all(np.abs(a - b).sum() > 0 for a, b in itertools.pairwise(arrays))


def test_race_is_deterministic(quadratic_race):
    again = race(RACERS, course_quadratic, steps=40)
    assert again.data == quadratic_race.data
    other = race(RACERS[:2], course_quadratic, steps=40)
    assert other.data != quadratic_race.data


def test_race_accepts_runs_and_reports_divergence():
    runs = make_runs(
        {"GD": (optimizers.gd, {"lr": 0.6}), "GD small": (optimizers.gd, {"lr": 0.1})},
        course_quadratic,
        steps=15,
    )
    assert [r.label for r in runs] == ["GD", "GD small"]
    np.testing.assert_array_equal(
        runs[1].xs, run(optimizers.gd, course_quadratic, steps=15, lr=0.1).xs
    )
    r = race(runs, course_quadratic, frames=8)
    assert len(_frames(r.data)) == 8


def test_race_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="max_mb"):
        race(RACERS, course_quadratic, steps=40, max_mb=0.05)
    from course_lib import quadratic_with_spectrum

    with pytest.raises(ValueError, match="2-D"):
        race(RACERS, quadratic_with_spectrum([1.0, 2.0, 3.0]))


def test_gif_saving_with_pillow(tmp_path, quadratic_race):
    path = quadratic_race.save_gif(tmp_path / "race.gif")
    with PIL.Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(_frames(quadratic_race.data))
    r = race(RACERS[:1], course_quadratic, steps=10, frames=5, gif=tmp_path / "small.gif")
    assert (tmp_path / "small.gif").stat().st_size > 0 and isinstance(r, Race)


def test_frames_keep_each_run_colour(quadratic_race):
    # Frames are stored with a small palette: each racer's colour must survive it (exactly,
    # exact), not merge into another one (Pillow's default GIF palette turns C1 into C3).
    import matplotlib.colors

    last = np.asarray(_frames(quadratic_race.data)[-1].convert("RGBA")).reshape(-1, 4)
    opaque = last[last[:, 3] == 255][:, :3].astype(int)
    for i in range(3):  # C0, C1, C2: the three racers
        rgb = np.array([round(255 * v) for v in matplotlib.colors.to_rgb(f"C{i}")])
        assert np.abs(opaque - rgb).max(axis=1).min() == 0, f"C{i} {rgb} lost by the palette"


def test_gif_keeps_each_run_colour_exactly(tmp_path, quadratic_race):
    import matplotlib.colors

    with PIL.Image.open(quadratic_race.save_gif(tmp_path / "race.gif")) as gif:
        gif.seek(gif.n_frames - 1)
        present = {tuple(p) for p in np.asarray(gif.convert("RGB")).reshape(-1, 3)}
    for i in range(3):
        rgb = tuple(int(round(255 * v)) for v in matplotlib.colors.to_rgb(f"C{i}"))
        assert rgb in present, f"C{i} {rgb} lost in the GIF"


def test_player_shows_frames_over_the_still_picture(quadratic_race):
    html = quadratic_race.data
    (player,) = _ids(html)
    style = re.search(
        r"#_anim_img" + player + r" \{background-image: url\(data:image/png;base64,"
        r"([^)]*)\)",
        html,
    )
    assert style, "the still picture is not the player's background"
    still = PIL.Image.open(io.BytesIO(base64.b64decode(style.group(1))))
    frames = _frames(html)
    assert all(f.size == still.size for f in frames)  # aligned pixel for pixel
    # a frame is transparent where only the still picture should show
    alpha = np.asarray(frames[0].convert("RGBA"))[..., 3]
    assert (alpha == 0).mean() > 0.5


def test_each_display_has_ids_of_its_own(quadratic_race):
    # Two players on one page (a copied cell, an exercise beside its solution) must not
    # share ids: each would find the other's picture.
    first, second = quadratic_race._repr_html_(), quadratic_race._repr_html_()
    ((a,), (b,)) = _ids(first), _ids(second)
    assert a != b
    assert first.replace(a, "") == second.replace(b, "")  # the same race otherwise
    for html, player in ((first, a), (second, b)):
        ids = re.findall(r"_anim_(?:img|slider|loop_select|radio\d_)(\w+)", html)
        ids += re.findall(r"\banim(\w+)\.", html)  # the player's JavaScript object
        assert len(ids) > 10 and set(ids) == {player}, set(ids)


def test_the_player_needs_no_network_and_no_script_to_show_the_race(quadratic_race):
    html = quadratic_race.data
    assert "font-awesome" not in html and "https://" not in html and 'class="fa ' not in html
    assert "▶" in html and "❚❚" in html  # the buttons are characters
    # the <img> itself holds the finished race (shown where scripts do not run), at a
    # fixed size: two thirds of its pixels, so it is drawn at 1.5 times the density it is shown
    img = re.search(
        r'<img id="_anim_img\w+" width="(\d+)" height="(\d+)"[^>]*'
        r'src="data:image/png;base64,([^"]*)"',
        html,
    )
    assert img, "no picture in the player's <img>"
    width, height = int(img.group(1)), int(img.group(2))
    finished, last = _png(img.group(3)), _frames(html)[-1]
    assert finished.size == last.size
    assert finished.size == pytest.approx((1.5 * width, 1.5 * height), abs=1)
    # the finished picture is the last frame over the still one: where the last frame
    # draws a run, opaque, the picture has the run's exact colour (but where lines cross)
    import matplotlib.colors

    rgb = np.asarray(finished.convert("RGB"), dtype=int)
    frame = np.asarray(last.convert("RGBA"), dtype=int)
    for i in range(3):
        colour = [round(255 * v) for v in matplotlib.colors.to_rgb(f"C{i}")]
        where = (frame[..., 3] == 255) & np.all(frame[..., :3] == colour, axis=-1)
        exact = np.all(rgb[where] == colour, axis=-1)
        assert where.sum() > 20 and exact.mean() > 0.9, f"C{i}: {exact.mean():.2f} exact"


def test_the_race_shows_its_text_at_least_12_px_tall_at_1024x768(quadratic_race):
    from course_lib import plots

    width, png = re.search(
        r'<img id="_anim_img\w+" width="(\d+)"[^>]*src="data:image/png;base64,([^"]*)"',
        quadratic_race.data,
    ).groups()
    png = base64.b64decode(png)
    text = plots.png_text(png)
    assert float(text["course:width-in"]) * float(text["course:shown-dpi"]) == pytest.approx(
        int(width), abs=1
    )  # the chunk describes the picture as the player shows it
    assert plots.png_text_px(png) >= plots.LEGIBLE_PX
