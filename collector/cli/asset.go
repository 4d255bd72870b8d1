package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"parc/collector/apiclient"
)

// assetFlags are the fields of an asset on the command line.
type assetFlags struct {
	name, class, subclass, state, tag, serial, vendor, model string
	purchase, supplier, order, warranty, owner, location     string
	cost                                                     float64
	years                                                    int
}

func (a *assetFlags) register(fs *flag.FlagSet, withState bool) {
	fs.StringVar(&a.name, "name", "", "name (default: the asset tag)")
	fs.StringVar(&a.class, "class", "", "computer (default), network_device or printer")
	fs.StringVar(&a.subclass, "subclass", "", "server, workstation, laptop, ...")
	if withState {
		fs.StringVar(&a.state, "state", "", "plan (default) or acquire")
	}
	fs.StringVar(&a.tag, "tag", "", "asset tag")
	fs.StringVar(&a.serial, "serial", "", "hardware serial (with --vendor): discovery matches it")
	fs.StringVar(&a.vendor, "vendor", "", "hardware vendor")
	fs.StringVar(&a.model, "model", "", "model")
	fs.Float64Var(&a.cost, "cost", 0, "purchase cost")
	fs.StringVar(&a.purchase, "purchase-date", "", "purchase date, YYYY-MM-DD")
	fs.StringVar(&a.supplier, "supplier", "", "supplier")
	fs.StringVar(&a.order, "order", "", "order number")
	fs.StringVar(&a.warranty, "warranty-end", "", "end of warranty, YYYY-MM-DD")
	fs.IntVar(&a.years, "depreciation-years", 0, "straight-line depreciation period (default: the collector's)")
	fs.StringVar(&a.owner, "owner", "", "owner")
	fs.StringVar(&a.location, "location", "", "location")
}

func (a *assetFlags) body() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"name": a.name, "class": a.class, "subclass": a.subclass, "state": a.state, "asset_tag": a.tag,
		"serial": a.serial, "vendor": a.vendor, "model": a.model, "purchase_date": a.purchase, "supplier": a.supplier,
		"order_number": a.order, "warranty_end": a.warranty, "owner": a.owner, "location": a.location} {
		if v != "" {
			m[k] = v
		}
	}
	if a.cost != 0 {
		m["cost"] = a.cost
	}
	if a.years != 0 {
		m["depreciation_years"] = a.years
	}
	return m
}

// assetCommands adds the asset commands.
func assetCommands(r registry) {
	var create, update assetFlags
	r["asset create"] = &Command{
		Usage: "asset create --tag T | --serial S --vendor V [--model M] [--cost C --purchase-date D --supplier S --order O --warranty-end D ...]",
		Help:  "record an asset before discovery (plan or acquire); the first agent report from it moves it to use",
		Flags: func(fs *flag.FlagSet) { create.register(fs, true) },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments (flags only)"); err != nil {
				return err
			}
			return showCI(e, "POST", "/assets", create.body())
		},
	}
	r["asset update"] = &Command{
		Usage: "asset update REF [--cost C] [--owner O] [--location L] [--warranty-end D] ...",
		Help:  "set an asset's business and financial fields",
		Flags: func(fs *flag.FlagSet) { update.register(fs, false) },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one asset (id, name, asset tag or serial)"); err != nil {
				return err
			}
			return showCI(e, "PATCH", "/assets/"+apiclient.PathEscape(args[0]), update.body())
		},
	}
	r["asset finance"] = &Command{
		Usage: "asset finance REF",
		Help:  "cost, book value, contracts, support cost and total cost of an asset",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one asset"); err != nil {
				return err
			}
			var f struct {
				Name         string  `json:"name"`
				State        string  `json:"state"`
				Cost         float64 `json:"cost"`
				PurchaseDate string  `json:"purchase_date"`
				Supplier     string  `json:"supplier"`
				OrderNumber  string  `json:"order_number"`
				WarrantyEnd  string  `json:"warranty_end"`
				Years        int     `json:"depreciation_years"`
				BookValue    float64 `json:"book_value"`
				Depreciated  float64 `json:"depreciated"`
				Contracts    []struct {
					Name    string  `json:"name"`
					Kind    string  `json:"kind"`
					Renewal string  `json:"renewal"`
					Cost    float64 `json:"cost"`
					Assets  int     `json:"assets"`
					Share   float64 `json:"share"`
				} `json:"contracts"`
				ContractCost float64 `json:"contract_cost"`
				SupportCost  float64 `json:"support_cost"`
				TotalCost    float64 `json:"total_cost"`
			}
			raw, err := getRaw(e, "/assets/"+apiclient.PathEscape(args[0])+"/finance", &f)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "%s (%s)\n", clean(f.Name), f.State)
			tw := table(e.Out)
			fmt.Fprintf(tw, "  cost\t%.2f\tbought %s from %s, order %s\n", f.Cost, dash(f.PurchaseDate), dash(clean(f.Supplier)), dash(clean(f.OrderNumber)))
			fmt.Fprintf(tw, "  book value\t%.2f\t%.2f depreciated over %d years\n", f.BookValue, f.Depreciated, f.Years)
			fmt.Fprintf(tw, "  warranty end\t%s\n", dash(f.WarrantyEnd))
			for _, c := range f.Contracts {
				fmt.Fprintf(tw, "  contract\t%.2f\t%s (%s, renews %s): %.2f shared by %d assets\n", c.Share, clean(c.Name), c.Kind, c.Renewal, c.Cost, c.Assets)
			}
			fmt.Fprintf(tw, "  support (incidents)\t%.2f\n", f.SupportCost)
			fmt.Fprintf(tw, "  total cost\t%.2f\n", f.TotalCost)
			return tw.Flush()
		},
	}
	var dry bool
	var batch int
	r["asset import"] = &Command{
		Usage: "asset import FILE.csv [--dry-run]",
		Help:  "import assets from CSV (keyed by asset tag or serial): all rows are checked first, and nothing is written if one is wrong",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&dry, "dry-run", false, "check and preview without writing")
			fs.IntVar(&batch, "batch", 500, "rows written per request (progress is shown between requests)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CSV file (- for standard input)"); err != nil {
				return err
			}
			return runImport(e, "/assets/import", args[0], dry, batch)
		},
	}
	r["asset export"] = &Command{
		Usage: "asset export",
		Help:  "write every asset as CSV (the import format, plus id and book value)",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			return getText(e, "/assets/export")
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// showCI sends body and prints the CI answered.
func showCI(e *Env, method, path string, body any) error {
	var raw json.RawMessage
	if err := e.Client.Do(e.Ctx, method, path, body, &raw); err != nil {
		return err
	}
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	var c ciJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	printCI(e, c)
	return nil
}

// getText copies a text answer (CSV) to the output.
func getText(e *Env, path string) error {
	var raw json.RawMessage
	if err := e.Client.Get(e.Ctx, path, &raw); err != nil {
		return err
	}
	_, err := e.Out.Write(raw)
	return err
}

type rowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

type importResult struct {
	Rows      int        `json:"rows"`
	Errors    []rowError `json:"errors"`
	Create    int        `json:"create"`
	Update    int        `json:"update"`
	Unchanged int        `json:"unchanged"`
	Done      int        `json:"done"`
	Complete  bool       `json:"complete"`
	Plan      []struct {
		Line    int      `json:"line"`
		Action  string   `json:"action"`
		Key     string   `json:"key"`
		Name    string   `json:"name"`
		Changes []string `json:"changes"`
		Kept    []string `json:"kept"`
	} `json:"plan"`
}

// postCSV posts a CSV file and decodes the import answer, which carries
// the row errors also when the status is 422.
func postCSV(e *Env, path string, data []byte) (*importResult, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(e.Ctx, "POST", e.Client.Base+"/api/v1"+path, bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "text/csv")
	if e.Client.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.Client.Token)
	}
	res, err := e.Client.HTTP.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the Parc API at %s: %w", e.Client.Base, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, nil, err
	}
	var v struct {
		Error  string        `json:"error"`
		Result *importResult `json:"result"`
	}
	if err := json.Unmarshal(body, &v); err != nil || (v.Result == nil && res.StatusCode/100 != 2) {
		msg := v.Error
		if msg == "" {
			msg = strings.TrimSpace(string(body))
		}
		return nil, nil, &apiclient.Error{Status: res.StatusCode, Message: msg}
	}
	return v.Result, body, nil
}

// uploadPart is the largest part of a staged upload (the server's
// lifecycle.MaxUploadPart).
const uploadPart = 900 << 10

// uploadFile stages a large file in parts and returns its id: the first
// 12 bytes of its SHA-256 in hex (csvio.FileID on the server).
func uploadFile(e *Env, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:12])
	of := (len(data) + uploadPart - 1) / uploadPart
	for n := 0; n < of; n++ {
		part := data[n*uploadPart : min(len(data), (n+1)*uploadPart)]
		path := fmt.Sprintf("/assets/uploads/%s/parts/%d?of=%d", id, n, of)
		if err := e.Client.DoRaw(e.Ctx, "PUT", path, "text/csv", bytes.NewReader(part), nil); err != nil {
			fmt.Fprintln(e.Err)
			return "", fmt.Errorf("upload part %d of %d: %w", n+1, of, err)
		}
		fmt.Fprintf(e.Err, "\ruploaded %d/%d parts (%d%%)", n+1, of, 100*(n+1)/of)
	}
	fmt.Fprintln(e.Err)
	return id, nil
}

// runImport checks a file (a dry run), then writes it in requests of
// batch rows, showing progress on stderr for large files.
func runImport(e *Env, path, file string, dry bool, batch int) error {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	// A file larger than one request is staged in parts, then named by
	// ?upload=ID in the import requests.
	body, q := data, url.Values{}
	if len(data) > uploadPart {
		if path != "/assets/import" {
			return fmt.Errorf("%s is %d bytes: at most %d for this import", file, len(data), uploadPart)
		}
		id, err := uploadFile(e, data)
		if err != nil {
			return err
		}
		body = nil
		q.Set("upload", id)
	}
	q.Set("dry_run", "true")
	check, raw, err := postCSV(e, path+"?"+q.Encode(), body)
	if err != nil {
		return err
	}
	q.Del("dry_run")
	if len(check.Errors) > 0 {
		if e.JSON {
			e.Out.Write(raw)
		}
		for _, re := range check.Errors {
			col := ""
			if re.Column != "" {
				col = " " + re.Column + ":"
			}
			fmt.Fprintf(e.Err, "%s:%d:%s %s\n", file, re.Line, col, clean(re.Message))
		}
		return fmt.Errorf("%d error(s) in %d rows; nothing was written", len(check.Errors), check.Rows)
	}
	if dry {
		if e.JSON {
			_, err := e.Out.Write(raw)
			return err
		}
		tw := table(e.Out)
		fmt.Fprintln(tw, "LINE\tACTION\tKEY\tCHANGES")
		for _, p := range check.Plan {
			key := p.Key
			if key == "" {
				key = p.Name
			}
			changes := strings.Join(p.Changes, ", ")
			if len(p.Kept) > 0 {
				changes += " (kept, owned by a stronger source: " + strings.Join(p.Kept, ", ") + ")"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", p.Line, p.Action, clean(key), changes)
		}
		tw.Flush()
		fmt.Fprintf(e.Out, "\n%d rows: %d to create, %d to update, %d unchanged (dry run: nothing written)\n", check.Rows, check.Create, check.Update, check.Unchanged)
		return nil
	}
	if batch <= 0 {
		batch = 500
	}
	showProgress := check.Rows > batch
	var last *importResult
	for {
		q.Set("limit", fmt.Sprint(batch))
		res, _, err := postCSV(e, path+"?"+q.Encode(), body)
		if err != nil {
			if showProgress {
				fmt.Fprintln(e.Err)
			}
			return fmt.Errorf("%w (run the same import again to resume)", err)
		}
		if len(res.Errors) > 0 {
			return fmt.Errorf("the store changed since the check: %d row error(s), first: line %d: %s", len(res.Errors), res.Errors[0].Line, res.Errors[0].Message)
		}
		last = res
		if showProgress {
			fmt.Fprintf(e.Err, "\rimported %d/%d rows (%d%%)", res.Done, res.Rows, 100*res.Done/max(1, res.Rows))
		}
		if res.Complete || res.Rows == 0 {
			break
		}
	}
	if showProgress {
		fmt.Fprintln(e.Err)
	}
	if e.JSON {
		return printJSON(e.Out, map[string]any{"rows": last.Rows, "create": check.Create, "update": check.Update, "unchanged": check.Unchanged, "complete": last.Complete})
	}
	fmt.Fprintf(e.Out, "%d rows imported: %d created, %d updated, %d unchanged\n", last.Rows, check.Create, check.Update, check.Unchanged)
	return nil
}
