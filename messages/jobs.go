package messages

import "encoding/json"

// Job endpoints: run is a write, list and show are reads.
var (
	APIJobRun  = MustAPISubject("job", "run")
	APIJobList = MustAPISubject("job", "list")
	APIJobShow = MustAPISubject("job", "show")
)

// JobVerbs are the command verbs that may run as a rolling job.
var JobVerbs = []string{VerbStatus, VerbServiceApply, VerbServicePlan, VerbServiceStatus, VerbServiceRemove, VerbK3sKubeconfig, VerbAgentUpgrade}

// Job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed" // finished, some hosts failed within the budget
	JobStopped   = "stopped"
	// JobInterrupted is a job whose controller stopped (a crash, kill -9,
	// a reboot) before it finished: a restarted controller marks its own
	// running jobs so, since nothing runs them any more.
	JobInterrupted = "interrupted"
)

// Per-host states in a job. A host that was offline or did not answer is
// not_reached, never ok.
const (
	HostPending    = "pending"
	HostOK         = "ok"
	HostFailed     = "failed"
	HostNotReached = "not_reached"
	HostNotStarted = "not_started"
	// HostInterrupted is a host whose step was in flight when the
	// controller stopped: its outcome is unknown to the job (the host
	// itself finishes or rolls back; foundry host list says which).
	HostInterrupted = "interrupted"
)

// Job progress event types, published per host with the job id as the
// request id.
const (
	EventJobStepStarted  = "job_step_started"
	EventJobStepFinished = "job_step_finished"
	EventJobStepFailed   = "job_step_failed"
)

// JobRunRequest starts a rolling job of Verb over the selected hosts.
// Batch and MaxFailures take "N" or "N%".
type JobRunRequest struct {
	Verb        string   `json:"verb"`
	Hosts       []string `json:"hosts,omitempty"`
	Where       string   `json:"where,omitempty"`
	Batch       string   `json:"batch,omitempty"`
	BatchWaitMs int64    `json:"batch_wait_ms,omitempty"`
	MaxFailures string   `json:"max_failures,omitempty"`
	TimeoutMs   int64    `json:"timeout_ms,omitempty"` // per batch
	// Payload is the verb's payload (a ServiceSpec or ServiceQuery for
	// the service verbs), checked by the controller before the job starts.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// JobHost is one host's outcome in a job.
type JobHost struct {
	Host  string `json:"host"`
	State string `json:"state"`
	Batch int    `json:"batch"` // 1-based
	Error string `json:"error,omitempty"`
	// StepID is the command id of this host's step: the idempotency key
	// the agent uses to never run it twice.
	StepID string `json:"step_id,omitempty"`
	// Result is the host's reply payload (bounded by MaxJobResultBytes),
	// e.g. the steps a service_apply changed.
	Result json.RawMessage `json:"result,omitempty"`
}

// MaxJobResultBytes bounds the reply payload a job keeps per host.
const MaxJobResultBytes = 8 << 10

// JobRecord is a job as stored in JetStream.
type JobRecord struct {
	ID       string `json:"id"`
	Verb     string `json:"verb"`
	Operator string `json:"operator"`
	// Controller is the server name of the controller that runs the job;
	// after a restart it marks only its own running jobs interrupted, not
	// those another controller of the cluster still runs.
	Controller  string    `json:"controller,omitempty"`
	Where       string    `json:"where,omitempty"`
	Batch       string    `json:"batch"`
	BatchWaitMs int64     `json:"batch_wait_ms,omitempty"`
	MaxFailures string    `json:"max_failures"`
	State       string    `json:"state"`
	Stopped     string    `json:"stopped,omitempty"`
	Created     int64     `json:"created"`
	Updated     int64     `json:"updated"`
	Finished    int64     `json:"finished,omitempty"`
	Batches     int       `json:"batches"`
	BatchesRun  int       `json:"batches_run"`
	Hosts       []JobHost `json:"hosts"`
}

// Count returns how many hosts are in state.
func (j *JobRecord) Count(state string) int {
	n := 0
	for _, h := range j.Hosts {
		if h.State == state {
			n++
		}
	}
	return n
}

// JobShowRequest names a job.
type JobShowRequest struct {
	ID string `json:"id"`
}

// JobListRequest lists recent jobs.
type JobListRequest struct{}

// JobListResult holds jobs newest first, without per-host detail.
type JobListResult struct {
	Jobs []JobRecord `json:"jobs"`
}

// CheckJobPayload validates a job's payload for its verb before any host
// sees it, so a bad spec fails the request instead of every host.
func CheckJobPayload(verb string, b []byte) error {
	switch verb {
	case VerbServiceApply, VerbServicePlan:
		_, err := DecodeServiceSpec(b)
		return err
	case VerbServiceStatus, VerbServiceRemove:
		_, err := DecodeServiceQuery(b)
		return err
	case VerbK3sKubeconfig:
		_, err := DecodeK3sKubeconfigRequest(b)
		return err
	case VerbAgentUpgrade:
		_, err := DecodeAgentUpgrade(b)
		return err
	}
	if len(b) > 0 && string(b) != "{}" && string(b) != "null" {
		return &Error{Code: CodeBadRequest, Message: "verb " + verb + " takes no payload"}
	}
	return nil
}
