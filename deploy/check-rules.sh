#!/usr/bin/env bash
# The CI check of a rule set: strict validation, then the rule tests with a coverage threshold.
# Both always run, so one push shows every problem; the exit status is 0 only when both pass.
#
#   deploy/check-rules.sh [RULES [TESTS]]     (default: rules and RULES/tests)
#
# Environment:
#   BROKER_RULES_BIN     the checker: broker-rules (or broker); default: broker-rules on PATH,
#                        else .build/release/broker-rules beside this script's repository
#   RULES_COVERAGE_MIN   the coverage threshold in percent (default 90)
#   RULES_FORMAT         text or github; default github inside GitHub Actions, else text
set -uo pipefail

rules=${1:-rules}
tests=${2:-$rules/tests}
minimum=${RULES_COVERAGE_MIN:-90}
if [[ -n ${RULES_FORMAT:-} ]]; then
    format=$RULES_FORMAT
elif [[ ${GITHUB_ACTIONS:-} == true ]]; then
    format=github
else
    format=text
fi

checker=${BROKER_RULES_BIN:-}
if [[ -z $checker ]]; then
    if command -v broker-rules > /dev/null; then
        checker=broker-rules
    else
        checker="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build/release/broker-rules"
    fi
fi
if ! command -v "$checker" > /dev/null && [[ ! -x $checker ]]; then
    echo "check-rules: no checker at '$checker': build it with 'swift build -c release --product broker-rules'" \
        "or set BROKER_RULES_BIN" >&2
    exit 2
fi

status=0
echo "== validate-rules --strict $rules"
"$checker" validate-rules --strict --format "$format" "$rules" || status=1
echo "== test-rules --coverage --fail-under $minimum $tests"
"$checker" test-rules --coverage --fail-under "$minimum" --format "$format" "$tests" || status=1
if [[ $status -eq 0 ]]; then
    echo "check-rules: the rules are valid and their tests pass with coverage of at least $minimum%"
else
    echo "check-rules: FAILED (see above)" >&2
fi
exit $status
