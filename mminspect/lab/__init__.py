"""Programs that produce the project's evidence. Nothing in the library imports this package.

bench              python -m mminspect.bench (also mminspect.lab.bench): speed and size figures;
                   sections bench_text, bench_attribution, bench_clip
pointing           python -m mminspect.lab.pointing: the pointing game on mini-CLIP scenes
                   (writes assets/miniclip/pointing.json)
miniclip_train     python -m mminspect.lab.miniclip_train: trains mini-CLIP, writes its weights
                   and model card
miniclip_eval      python -m mminspect.lab.miniclip_eval: held-out zero-shot, retrieval,
                   swapped bindings (--card writes them into the card)
load/              python -m mminspect.lab.load: load, abuse and soak suite against the app on
                   loopback (ok / rejected / errored / hung, p50/p95, server RSS over time)
provenance         the one writer of how a record was made (command, parameters, versions,
                   source hashes, date, machine)
"""
