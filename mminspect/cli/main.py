"""Argument parsing and the three commands. Each command calls the library exactly as a
notebook would, prints a short answer, and writes --json (mi.save_result) and --out
(mi.report, with the exact calls as the report's code)."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from .. import api
from ..report import report
from ..types import InputError, ModelLoadError, OverBudget
from .dataset_cmd import add_dataset_parser, cmd_dataset
from .loading import bundled_models, load_model as _load
from .progress import Bar

EXIT_INPUT, EXIT_MODEL, EXIT_INTERRUPTED = 3, 4, 130
MAX_IMAGE_BYTES = 50 * 1024 * 1024


def _target_args(a) -> dict:
    out = {}
    if a.compare:
        out["compare_to"] = a.compare
    if a.labels:
        out["labels"] = a.labels
    return out


def _call(fn: str, first, rest: dict) -> str:
    args = "".join(f", {k}={v!r}" for k, v in rest.items())
    return f"{fn}(model, {first}{args})"


def _write(result, a, code: str, say) -> None:
    if a.json:
        say(f"numbers: {api.save_result(result, a.json)}")
    if a.out:
        say(f"report: {report(result, a.out, code=code)}")


def models_help() -> str:
    """'name (what it is)' for every bundled model, from the registry's labels."""
    return "; ".join(f"{m['name']} ({m['label'].split(' · ')[1].split(' (')[0]})"
                     for m in api.list_models() if m["bundled"])


def cmd_text(a, say) -> None:
    model = _load(a.model)
    kwargs = _target_args(a)
    view = api.inspect_text(model, a.text, **kwargs)
    p = view.prediction
    say(f"{len(view.attention.tokens)} tokens, {view.attention.n_layers} layers × "
        f"{view.attention.n_heads} heads ({a.model})")
    if p.similarity is not None:
        say(f"cosine similarity to the second text: {p.similarity:.4f}")
    for label, prob in zip(p.labels, p.label_probs):
        say(f"P({label}) = {prob:.1%}")
    for fill in p.fills:
        say("top fillers: " + ", ".join(f"{t} {q:.1%}" for t, q in zip(fill.tokens, fill.probs)))
    for note in view.notes:
        say(f"note: {note}")
    code = (f"import mminspect as mi\nmodel = mi.load({a.model!r})\n"
            f"view = mi.{_call('inspect_text', repr(a.text), kwargs)}")
    _write(view, a, code, say)


def cmd_attribute(a, say) -> None:
    model = _load(a.model)
    kwargs = _target_args(a)
    if a.label:
        kwargs["label"] = a.label
    with Bar(enabled=not a.quiet) as bar:
        attr = api.attribute_text(model, a.text, method=a.method, baseline=a.baseline,
                                  budget_s=a.budget, progress=bar.update,
                                  precision=a.precision, **kwargs)
    say(f"{attr.method} on {attr.target} = {attr.target_value:.4g} ({attr.seconds:.1f} s)")
    order = sorted(range(len(attr.words)), key=lambda i: -abs(float(attr.word_scores[i])))
    for i in order[:8]:
        say(f"  {attr.word_scores[i]:+.4f}  {attr.words[i]}")
    f = attr.faithfulness
    if f is not None and f.completeness_relative is not None:
        say(f"completeness error: {f.completeness_relative:.2%} of f(text) − f(baseline)")
    for note in attr.notes:
        say(f"note: {note}")
    rest = {"method": a.method, "baseline": a.baseline, **kwargs}
    if a.precision:
        rest["precision"] = a.precision
    code = (f"import mminspect as mi\nmodel = mi.load({a.model!r})\n"
            f"attr = mi.{_call('attribute_text', repr(a.text), rest)}")
    _write(attr, a, code, say)


def read_image_file(path: Path) -> bytes:
    """The CLI reads a file the user named on their own machine (the app never takes paths)."""
    if not path.is_file():
        raise InputError(f"No image file at {path}.")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise InputError(f"{path} is larger than {MAX_IMAGE_BYTES // 2**20} MB.")
    return path.read_bytes()


def _image_and_prompts(a) -> tuple[bytes | object, list[str], str]:
    """The image (a file's bytes, or a bundled example's picture), the prompts (the example's
    own when none are given) and how the report's code opens the image."""
    path = Path(a.image)
    if path.is_file() or str(a.image) not in api.list_examples():
        image = read_image_file(path)
        if not a.prompts:
            raise InputError("Give the prompts to compare: --prompts \"a cat\" \"a dog\" (only a "
                             "bundled example brings its own).")
        return image, a.prompts, f"image = open({str(path)!r}, 'rb').read()"
    ex = api.load_example(str(a.image))
    return ex.image, a.prompts or list(ex.prompts), f"image = mi.load_example({str(a.image)!r}).image"


def cmd_image(a, say) -> None:
    image, prompts, opened = _image_and_prompts(a)
    model = _load(a.model)
    view = api.inspect_clip(model, image, prompts, template=a.template, maps=bool(a.out))
    # the app's warning when the picture is outside what the model was trained on (a photo
    # for a bundled mini-CLIP): printed first, and kept in the report's notes
    warning = api.domain_note(model, api.read_image(image))
    if warning:
        view = replace(view, notes=[warning, *view.notes])
        say(f"warning: {warning}")
    for prompt, prob in sorted(zip(view.prompts, view.probs[0]), key=lambda x: -x[1]):
        say(f"P({prompt}) = {prob:.1%}")
    for note in view.notes[1 if warning else 0:]:
        say(f"note: {note}")
    rest = {"template": a.template} if a.template else {}
    if a.out:
        rest["maps"] = True
    code = (f"import mminspect as mi\nmodel = mi.load({a.model!r})\n{opened}\n"
            f"view = mi.{_call('inspect_clip', 'image', {'prompts': view.prompts, **rest})}")
    _write(view, a, code, say)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mminspect", description="See why a transformer predicts "
                                "what it predicts, from the command line. Bundled offline models: "
                                + models_help() + ".",
                                epilog="Exit codes: 0 done, 2 usage, 3 input refused, 4 model "
                                "not loaded, 130 interrupted.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{text,attribute,image,dataset}")

    def common(sp, model):
        sp.add_argument("--model", default=model, help=f"registry name, hub id or folder (default "
                        f"{model}); bundled: {', '.join(bundled_models())}")
        sp.add_argument("--json", type=Path, metavar="FILE", help="write the numbers as JSON (mi.load_result reads them)")
        sp.add_argument("--out", type=Path, metavar="FILE", help="write an offline HTML report")
        sp.add_argument("--quiet", action="store_true", help="print nothing but errors")
        sp.add_argument("--verbose", action="store_true", help="also show library logs and tracebacks")

    t = sub.add_parser("text", help="tokens, attention and the prediction for a text")
    t.add_argument("text")
    t.add_argument("--compare", metavar="TEXT", help="a second text: cosine similarity")
    t.add_argument("--labels", nargs="+", metavar="LABEL", help="zero-shot labels")
    common(t, "minilm")
    at = sub.add_parser("attribute", help="which words push a target up or down")
    at.add_argument("text")
    at.add_argument("--compare", metavar="TEXT", help="target: cosine similarity to this text")
    at.add_argument("--labels", nargs="+", metavar="LABEL", help="target: zero-shot labels")
    at.add_argument("--label", help="which label's log-odds to explain (default: the first)")
    at.add_argument("--method", default="integrated_gradients",
                    choices=[m["name"] for m in api.list_attribution_methods()],
                    help="default integrated_gradients; one of %(choices)s")
    at.add_argument("--baseline", default="pad", help="what a removed token becomes (default pad)")
    at.add_argument("--budget", type=float, metavar="SECONDS", help="time budget; larger work runs coarser")
    at.add_argument("--precision", choices=("auto", "float32", "bfloat16"),
                    help="float type of perturbation methods and curves (default auto: "
                         "bfloat16 where the hardware runs it natively, ~3x faster)")
    common(at, "minilm")
    im = sub.add_parser("image", help="how a CLIP-style model picks a label for an image")
    im.add_argument("image", help="an image file (PNG, JPEG, …) or the name of a bundled "
                    "example, one of: " + "; ".join(f'"{e}"' for e in api.list_examples()))
    im.add_argument("--prompts", nargs="+", metavar="PROMPT",
                    help="the labels to compare (a bundled example brings its own)")
    im.add_argument("--template", help='e.g. "a photo of a {}"')
    common(im, "miniclip")
    add_dataset_parser(sub)
    return p


COMMANDS = {"text": cmd_text, "attribute": cmd_attribute, "image": cmd_image, "dataset": cmd_dataset}


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if not a.verbose:                # the message below says what went wrong; no tracebacks
        logging.getLogger("mminspect").setLevel(logging.CRITICAL)
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()

    def say(line: str) -> None:
        if not a.quiet:
            print(line, flush=True)
    try:
        COMMANDS[a.command](a, say)
    except (InputError, OverBudget) as e:
        print(f"mminspect: {e}", file=sys.stderr)
        return EXIT_INPUT
    except ModelLoadError as e:
        print(f"mminspect: {e}", file=sys.stderr)
        return EXIT_MODEL
    except KeyboardInterrupt:
        print("mminspect: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
