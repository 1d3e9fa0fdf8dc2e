# The regenerated tables, the figure and the training curves (pandas/matplotlib only).


rule tables:
    input:
        metrics=expand(rules.evaluate.output[0], run=RUN_IDS),
        released=lambda wc: released_outputs(),  # workflow/rules/release.smk (config `release`)
    output:
        tables=report(os.path.join(RESULTS_DIR, "tables.md"), caption="../report/tables.rst", category="Tables"),
        summary=report(os.path.join(RESULTS_DIR, "summary.csv"), caption="../report/summary.rst", category="Tables"),
        figure=report(
            os.path.join(RESULTS_DIR, "reproduced_vs_paper.png"), caption="../report/figure.rst", category="Figures"
        ),
    log:
        "logs/tables_%s.log" % SCALE,
    shell:
        TABLES_CMD + " > {log} 2>&1"


rule curves:
    input:
        expand(rules.train.output[0], run=RUN_IDS),
    output:
        report(os.path.join(RESULTS_DIR, "training_curves.png"), caption="../report/curves.rst", category="Figures"),
    log:
        "logs/curves_%s.log" % SCALE,
    shell:
        "{AFA} curves --runs {RUNS_DIR} --out {output} > {log} 2>&1"
