# The regenerated tables, the figure and the training curves (pandas/matplotlib only). Only this rule writes
# the tables, and only once every selected run is evaluated.


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
        claims=report(result_file(layout.TABLE_FILES["claims"]), caption="../report/claims.rst", category="Claims"),
        claims_json=result_file(layout.TABLE_FILES["claims_json"]),
        claims_figure=report(
            result_file(layout.TABLE_FILES["claims_figure"]), caption="../report/claims_figure.rst", category="Claims"
        ),
    params:
        afa=AFA,
        scale=SCALE,
        runs=lambda wc: RUNS_DIR,  # the tables read every run folder in it
        out=lambda wc, output: os.path.dirname(output.tables),
        testdev=TESTDEV_ARGS,
    log:
        log_file("tables"),
    shell:
        "{params.afa} tables --scale {params.scale} --runs {params.runs:q} --out {params.out:q} {params.testdev:q}"
        " > {log:q} 2>&1"


rule curves:
    input:
        expand(rules.train.output[0], run=RUN_IDS),
    output:
        report(result_file(layout.CURVES_FILE), caption="../report/curves.rst", category="Figures"),
    params:
        afa=AFA,
        runs=lambda wc: RUNS_DIR,  # the curves read every run folder in it
    log:
        log_file("curves"),
    shell:
        "{params.afa} curves --runs {params.runs:q} --out {output:q} > {log:q} 2>&1"
