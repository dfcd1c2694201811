"""The app's own words for every input, checked before any work (API callers included).

gradio converts each input before a handler runs and answers a bad value in its own words
("Value 99 is greater than maximum value 11.", "Value: x is not in the list of choices: …"),
with no message at all ({"error": null}, which gradio_client shows as "The upstream Gradio app
has raised an exception"), or not at all (a NaN layer passes its range check and fails inside
the handler). `guard_inputs(demo)` checks every input of every event first and answers with
one message naming the input and what it takes; the value itself is never echoed back.

Where: `Blocks.preprocess_data` (an instance attribute; checked against gradio 6.31 by
tests/test_guards.py). It sees the session's copy of each component, so a slider whose range
an earlier event changed is checked against its new range: wrapping each component's
`preprocess` missed those copies (a session's updated slider is a new object).
"""
from __future__ import annotations

import math

import gradio as gr


def expected_value(block) -> str:
    """What an input takes, in words (for a message about a malformed call)."""
    if isinstance(block, (gr.Slider, gr.Number)):
        lo, hi = getattr(block, "minimum", None), getattr(block, "maximum", None)
        return f"a number from {lo:g} to {hi:g}" if lo is not None and hi is not None else "a number"
    if isinstance(block, gr.Checkbox):
        return "true or false"
    if isinstance(block, (gr.Dropdown, gr.Radio, gr.CheckboxGroup)):
        shown = [str(c[1] if isinstance(c, (tuple, list)) else c) for c in (block.choices or [])]
        listed = ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
        many = getattr(block, "multiselect", False) or isinstance(block, gr.CheckboxGroup)
        return (("a list of its choices" if many else "one of its choices")
                + (f" ({listed})" if listed else ""))
    if isinstance(block, gr.Textbox):
        return "text"
    return "a value of the kind the API page (?view=api) shows"


def input_name(block) -> str:
    return str(block.label or block.elem_id or type(block).__name__)


def refusal(block) -> gr.Error:
    return gr.Error(f"The input \u201c{input_name(block)}\u201d could not be used: it takes "
                    f"{expected_value(block)}. Nothing was run; send a value of that kind.",
                    print_exception=False)


EMPTY_OK = "mm_may_be_empty"


def may_be_empty(block):
    """Mark a choice the app itself empties (the Image–text tab's Example list once an image is
    uploaded): None is then a value it takes, so the tab's other events still run."""
    setattr(block, EMPTY_OK, True)
    return block


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _choice_values(block) -> list:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in (block.choices or [])]


def value_ok(block, original, value) -> bool:
    """Whether `value` is one `block` (the session's copy) takes. `original` is the component
    as built: a choice it was built with a value for is required (None is refused before the
    work starts, not after it)."""
    if isinstance(block, (gr.Slider, gr.Number)):
        if value is None:
            return isinstance(block, gr.Number) and original.value is None
        x = _number(value)
        lo, hi = block.minimum, block.maximum
        return (x is not None and math.isfinite(x)
                and (lo is None or x >= lo) and (hi is None or x <= hi))
    if isinstance(block, gr.Checkbox):
        return isinstance(value, bool)
    if isinstance(block, (gr.Dropdown, gr.Radio, gr.CheckboxGroup)):
        many = getattr(block, "multiselect", False) or isinstance(block, gr.CheckboxGroup)
        custom = getattr(block, "allow_custom_value", False)
        choices = _choice_values(block)
        if value is None:
            return many or original.value is None or getattr(original, EMPTY_OK, False)
        values = value if many and isinstance(value, list) else [value] if not many else None
        if values is None:
            return False
        return all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                   and (custom or v in choices) for v in values)
    if isinstance(block, gr.Textbox):
        return value is None or isinstance(value, str)
    return True


def guard_inputs(demo: gr.Blocks) -> None:
    """Check every input of every event before gradio converts it (see the module's note)."""
    preprocess = demo.preprocess_data

    async def preprocess_checked(block_fn, inputs, state, explicit_call=False):
        needed = len(block_fn.inputs)
        if not isinstance(inputs, list) or len(inputs) < needed:
            names = ", ".join(input_name(b) for b in block_fn.inputs)
            raise gr.Error(f"This request sent {len(inputs) if isinstance(inputs, list) else 0} "
                           f"of the {needed} inputs this action needs ({names}). Nothing was run; "
                           "send every input, in that order, as the API page (?view=api) shows.",
                           print_exception=False)
        for i, original in enumerate(block_fn.inputs):
            if getattr(original, "stateful", False) or i in block_fn.component_prop_inputs:
                continue
            block = state[original._id] if state is not None and original._id in state else original
            if not value_ok(block, original, inputs[i]):
                raise refusal(block)
        try:
            return await preprocess(block_fn, inputs, state, explicit_call)
        except Exception as e:  # noqa: BLE001 - gradio's words (or none) become the app's
            failing = _failing_input(block_fn, inputs, state)
            if failing is None:
                raise                 # not an input's fault: the event's own handling says why
            raise refusal(failing) from e

    demo.preprocess_data = preprocess_checked


def _failing_input(block_fn, inputs, state):
    """The first input whose own conversion fails (to name it in the message)."""
    for i, original in enumerate(block_fn.inputs):
        if getattr(original, "stateful", False):
            continue
        block = state[original._id] if state is not None and original._id in state else original
        try:
            block.preprocess(inputs[i])
        except Exception:  # noqa: BLE001 - this is the one that cannot be read
            return block
    return None
