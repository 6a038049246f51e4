package porter

import "github.com/porter-deploy/porter/internal/mask"

// DescribeRun returns the line a Describer gives for a command it would
// run: "run: " and the command as MaskCommand shows it.
func DescribeRun(cmd string) string { return "run: " + MaskCommand(cmd) }

// MaskCommand returns the shell command line with its credentials
// replaced by SecretMask, for plans, logs and errors: the userinfo of a
// URL (https://********@host), the value of a word that assigns a name
// that looks secret (DB_PASSWORD=********, --api-key=********,
// -H 'Authorization: ********'), the word after an option named so
// (--token ********), and the password of curl's -u/--user user:password.
// A masked value keeps the quote it started in; the rest of the line is left
// as it is. Package remote masks the commands its errors and logs quote the
// same way.
func MaskCommand(line string) string { return mask.Command(line) }
