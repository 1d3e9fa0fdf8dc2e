# The regenerated tables, the figure and the training curves (pandas/matplotlib only).


rule tables:
    input:
        metrics=expand(rules.evaluate.output[0], run=RUN_IDS),
        released=lambda wc: released_outputs(),  # workflow/rules/release.smk (config `release`)
    output:
        tables=report(result_file(layout.TABLE_FILES["tables"]), caption="../report/tables.rst", category="Tables"),
        summary=report(result_file(layout.TABLE_FILES["summary"]), caption="../report/summary.rst", category="Tables"),
        gains=report(result_file(layout.TABLE_FILES["gains"]), caption="../report/gains.rst", category="Tables"),
        figure=report(result_file(layout.TABLE_FILES["figure"]), caption="../report/figure.rst", category="Figures"),
        gains_figure=report(
            result_file(layout.TABLE_FILES["gains_figure"]), caption="../report/gains_figure.rst", category="Figures"
        ),
    log:
        "logs/tables_%s.log" % SCALE,
    shell:
        TABLES_CMD + " > {log} 2>&1"


rule curves:
    input:
        expand(rules.train.output[0], run=RUN_IDS),
    output:
        report(result_file(layout.CURVES_FILE), caption="../report/curves.rst", category="Figures"),
    log:
        "logs/curves_%s.log" % SCALE,
    shell:
        "{AFA} curves --runs {RUNS_DIR} --out {output} > {log} 2>&1"
