"""The command line: inspect a text, attribute a target, explain an image, from a shell.

    mminspect text "The cat sat on the mat." --compare "A dog lay on the rug." --out report.html
    mminspect attribute "The cat sat on the mat." --compare "A dog …" --method saliency --json a.json
    mminspect image "photo: Chelsea the cat" --prompts "a cat" "a dog" --out report.html
    mminspect image my_photo.png --prompts "a cat" "a dog"     (a file, or a bundled example by name)

Exit codes: 0 done, 2 a usage error (argparse), 3 an input the library refused (the message
says what to change), 4 a model that could not be loaded, 130 interrupted."""
from .main import main

__all__ = ["main"]
