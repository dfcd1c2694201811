"""How a gradio_client caller sees an output the app left as it was (`gr.skip()`)."""


def unchanged(value) -> bool:
    """True for gradio's "leave this output as it is" update (an HTML output wraps it in
    `props`); never for a value, an empty string or None (those would wipe the output)."""
    return (isinstance(value, dict) and value.get("__type__") == "update"
            and set(value) <= {"__type__", "props"}
            and all(k == "__type__" for k in value.get("props", {})))
