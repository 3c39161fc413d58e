"""The NAO-WS pipeline (paper §3.4): one supernet on one GPU, round by round.

    prepare data; sample N random architectures
    round 1: supernet round (train the shared weights to the first scoring epoch, score the pool)
    for round r = 2..L (one `ws-round` each):
        fit -> optimize -> decode (the new archs join the pool) -> supernet round r
    re-rank the best few by a short training from scratch; write the report

The supernet's checkpoint travels from round to round as a Model artifact and is mirrored to
the store every epoch, so a preempted round resumes from its last epoch. L is fixed by
supernet.epochs / supernet.rounds_every (config checks search.rounds against it).
"""

from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model
from nao_kfp.components import _base, data, decode, fit, optimize, report, sample, supernet
from nao_kfp.pipelines.search import Outputs, controller_tasks, pipeline_name, place_on_gpu

from nao_kfp.config import Config, config_to_json
from nao_kfp.steps import compiled_settings


class WsRound(NamedTuple):
    pool: Dataset
    history: Dataset
    model: Model
    supernet: Model


def build_ws_pipeline(cfg: Config) -> Any:
    s, cl = cfg.search, cfg.cluster

    def on(comp: Any) -> Any:
        return _base.on_image(comp, cl.image)

    prepare_c, sample_c, fit_c = on(data.prepare_data), on(sample.sample), on(fit.fit)
    optimize_c, decode_c, report_c = on(optimize.optimize), on(decode.decode), on(report.report)
    round_c, select_c = on(supernet.supernet_round), on(supernet.rerank_select)

    @dsl.pipeline(name="ws-round")
    def ws_round(
        config: str, round_index: int, next_round: int, pool: Input[Dataset],
        history: Input[Dataset], model: Input[Model], net: Input[Model], data: Input[Dataset],
    ) -> WsRound:  # fmt: skip
        """fit (warm start) -> optimize -> decode -> train and score with the supernet."""
        fitted, dec = controller_tasks(
            (fit_c, optimize_c, decode_c), config, round_index, pool, history, model
        )
        rnd = round_c(
            config=config, round_index=next_round, pool=dec.outputs["new_pool"],
            history=dec.outputs["new_history"], supernet=net, data=data,
        )  # fmt: skip
        place_on_gpu(rnd.set_display_name("train and score the supernet"), cl)
        return WsRound(
            pool=rnd.outputs["scored_pool"], history=rnd.outputs["new_history"],
            model=fitted.outputs["model"], supernet=rnd.outputs["new_supernet"],
        )  # fmt: skip

    compiled = compiled_settings(cfg)

    @dsl.pipeline(name=pipeline_name(cfg))
    def nao_ws_search(config: str = config_to_json(cfg)) -> Outputs:
        """NAO-WS (Luo et al. 2018, §3.4): Algorithm 1 with a weight-sharing supernet.

        prepare data; sample N random architectures
        round 1: train the supernet to the first scoring epoch; score the pool
        for round r = 2..L: fit -> optimize -> decode -> train the supernet further; re-score
        re-rank the best few by a short training from scratch; write the report
        """
        staged = prepare_c(config=config, compiled=compiled).set_display_name("prepare data")
        first = sample_c(config=config, compiled=compiled)
        first.set_display_name("sample initial architectures")
        data_dir, empty = staged.outputs["data"], first.outputs["model"]
        rnd = round_c(
            config=config, round_index=1, pool=first.outputs["pool"],
            history=first.outputs["history"], supernet=empty, data=data_dir,
        )  # fmt: skip
        place_on_gpu(rnd.set_display_name("round 1"), cl)
        pool, history = rnd.outputs["scored_pool"], rnd.outputs["new_history"]
        model, net = empty, rnd.outputs["new_supernet"]
        for r in range(2, s.rounds + 1):
            t = ws_round(
                config=config, round_index=r - 1, next_round=r, pool=pool, history=history,
                model=model, net=net, data=data_dir,
            ).set_display_name(f"round {r}")  # fmt: skip
            pool, history = t.outputs["pool"], t.outputs["history"]
            model, net = t.outputs["model"], t.outputs["supernet"]
        best = select_c(config=config, pool=pool, history=history, data=data_dir)
        place_on_gpu(best.set_display_name("re-rank and select the best"), cl)
        rep = report_c(config=config, result=best.outputs["result"], pool=pool)
        rep.set_display_name("report")
        return Outputs(
            result=best.outputs["result"], pool=pool, markdown=rep.outputs["markdown"],
            html=rep.outputs["html"],
        )  # fmt: skip

    return nao_ws_search
